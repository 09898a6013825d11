"""Interfaces that only the master may bring up: the seed's "disabled
interfaces while the device is in backup mode" (a DSL dial-in, wan0) and
interfaces flagged DISABLED_IF_SPARE (a WireGuard tunnel, wg0).

Rules: observe -> plan (pure) -> apply; only the listed interfaces are ever
touched, and only their administrative state. One that is missing or
refuses is reported and never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from hacore.config.model import Config

FLAG = "DISABLED_IF_SPARE"
IFF_UP = 0x1


def managed(cfg: Config) -> tuple[str, ...]:
    """The interfaces that follow the role, in configuration order."""
    names = list(cfg.cluster.disabled_interfaces_in_backup)
    names += [i.name for i in cfg.interfaces if FLAG in i.flags and i.name not in names]
    return tuple(names)


@dataclass
class IfResult:
    up: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)  # name -> up / down / missing, after this pass

    def __bool__(self) -> bool:
        return bool(self.up or self.down or self.failed)


def plan(want_up: bool, present: dict[str, bool]) -> tuple[list[str], list[str]]:
    """(bring up, bring down): only interfaces whose state differs."""
    wrong = [name for name, up in present.items() if up != want_up]
    return (wrong, []) if want_up else ([], wrong)


class IfReconciler:
    def __init__(self, cfg: Config):
        self.names = managed(cfg)

    async def apply(self, master: bool) -> IfResult:
        res = IfResult()
        if not self.names:
            return res
        async with AsyncIPRoute() as ipr:
            present: dict[str, bool] = {}
            index: dict[str, int] = {}
            async for link in await ipr.link("dump"):
                name = link.get("ifname")
                if name in self.names:
                    present[name] = bool(link["flags"] & IFF_UP)
                    index[name] = link["index"]
            for name in self.names:
                if name not in present:
                    res.failed[name] = f"interface {name} does not exist"
                    res.state[name] = "missing"
            up, down = plan(master, present)
            for name in present:
                res.state[name] = "up" if present[name] else "down"
            for names, state in ((up, "up"), (down, "down")):
                for name in names:
                    try:
                        await ipr.link("set", index=index[name], state=state)
                    except (NetlinkError, OSError) as exc:
                        res.failed[name] = f"set {state}: {exc}"
                        continue
                    res.state[name] = state
                    (res.up if state == "up" else res.down).append(name)
        return res
