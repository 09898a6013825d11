"""A re-created HA link is rebuilt once per netlink event (hacore.vrrp.halinks), with a fake port and a
netlink lookup the test releases by hand: two rebuilds asked for one after the other must not finish
out of order, or the older one's stale view (no address yet) leaves a problem no further event clears."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hacore.support.links import LinkInfo
from hacore.vrrp import halinks

BARE = LinkInfo("lan2", 7, bytes(6), True, (), None, 1500)  # as the first event saw it: no address yet
READY = LinkInfo("lan2", 7, bytes(6), True, ("203.0.113.2",), None, 1500)


class FakePort:
    def __init__(self) -> None:
        self.instances: dict[str, list[Any]] = {}

    def missing(self, name: str, info: LinkInfo) -> list[str]:
        return [] if info.ipv4 else [f"IPv4 address on {name}"]

    def open(self, info: LinkInfo, _on_open: object) -> None:
        self.instances[info.ifname] = []

    def close(self, name: str) -> None:
        self.instances.pop(name, None)


class FakeFilter:
    def attach(self, *_args: object) -> None:
        pass


def test_an_older_rebuild_cannot_finish_after_a_newer_one(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> dict[str, str]:
        first_read = asyncio.Event()
        release_first = asyncio.Event()
        views = [BARE, READY]

        async def lookup(_names: list[str]) -> dict[str, LinkInfo]:
            view = views.pop(0)
            if view is BARE:  # the first event's lookup read the link before its address came
                first_read.set()
                await release_first.wait()
            return {"lan2": view}

        monkeypatch.setattr(halinks.links, "lookup", lookup)
        monkeypatch.setattr(halinks, "keep_own_addresses", lambda _name: "on")
        hl = halinks.HaLinks(["lan2"], FakePort(), FakeFilter(), lambda _inst: None)  # type: ignore[arg-type]
        hl.problems["lan2"] = "interface lan2 does not exist"
        older = asyncio.create_task(hl.rebuild("lan2"))  # the link appeared
        await first_read.wait()
        newer = asyncio.create_task(hl.rebuild("lan2"))  # its address came
        for _ in range(5):  # let the newer one run as far as it can
            await asyncio.sleep(0)
        release_first.set()
        await asyncio.gather(older, newer)
        return hl.problems

    assert asyncio.run(scenario()) == {}
