"""The election driver decides on what was queued (hacore.vrrp.service), with a fake port and clock: a
decision is taken as of the instant before the drain, so a stall after it cannot time out a live peer."""

from __future__ import annotations

from typing import Any

import pytest

from hacore.config.parse import parse
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.support import supervise
from hacore.vrrp import service
from hacore.vrrp.machine import Advert, Carrier, Machine, Params, Role, Tick
from tests.unit.lab_config import NODE2

PEER = bytes([198, 51, 100, 102])
DELAY_US = 10_000


class Clock:
    def __init__(self) -> None:
        self.us = 0

    def __call__(self) -> int:
        return self.us


class FakePort:
    """Queued adverts come out at the drain; then the loop is held up (the GIL with a preempted thread)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.queued: list[Advert] = []
        self.stall_us = 0
        self.feed: Any = None

    def drain_all(self) -> None:
        for a in self.queued:
            self.feed(a)
        self.queued = []
        self.clock.us += self.stall_us

    def quiet(self) -> None:
        pass

    def send(self, *_args: object) -> None:
        pass


class Roles:
    def __init__(self) -> None:
        self.changes: list[tuple[Role, str]] = []

    def role_changed(self, _old: Role, new: Role, reason: str) -> None:
        self.changes.append((new, reason))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(service, "now_us", c)
    return c


def election(clock: Clock) -> tuple[service.Election, FakePort, Roles]:
    roles = Roles()
    e = service.Election(parse(NODE2), bytes(32), CounterSource(0, 0, 0), ReplayWindow(), False, False,
                         roles,  # type: ignore[arg-type]  # only role_changed is called here
                         supervise.COUNTERS.new())
    port = FakePort(clock)
    port.feed = e.feed
    e.port = port  # type: ignore[assignment]
    e.machine = Machine(Params(("lan1",), high=False, update_trigger_delay_us=DELAY_US, min_hold_us=0), 0)
    e.feed(Carrier("lan1", True))
    return e, port, roles


def advert(arrival_us: int) -> Advert:
    return Advert("lan1", PEER, 200, DELAY_US // 4, arrival_us)


def test_a_stall_after_the_drain_does_not_time_out_a_peer_whose_advert_was_read(clock: Clock) -> None:
    e, port, roles = election(clock)
    clock.us = 50_000
    port.queued = [advert(49_000)]  # 1 ms old when the Tick came
    port.stall_us = 3 * DELAY_US  # read, then the loop held up three waits
    e.feed(Tick())
    assert e.machine is not None and e.machine.role == Role.BACKUP
    assert roles.changes == [(Role.BACKUP, "cluster on")]


def test_silence_queued_before_the_tick_still_takes_over(clock: Clock) -> None:
    e, port, roles = election(clock)
    clock.us = 50_000
    port.queued = [advert(39_000)]  # the newest advert is older than the wait: the peer is gone
    e.feed(Tick())
    assert e.machine is not None and e.machine.role == Role.MASTER
    assert roles.changes[-1] == (Role.MASTER, "peer timeout")
