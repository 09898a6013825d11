"""`hacore cleanup`: the VIPs a daemon that died without its shutdown (kill -9,
the OOM killer) left in the kernel, removed - by hand or by the systemd unit's
ExecStopPost=.

Rules: reads the start configuration the daemon runs with; refuses while a
daemon holds the state directory (it would strip a live master); removes only
the configured VIPs, never the node's own addresses; running it twice
changes nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hacore import links
from hacore.config.model import Config
from hacore.effects.vips import Plan, Vip, VipReconciler
from hacore.statelock import Locked, StateLock


class Refused(Exception):
    """Cleanup must not run now; str() is the one line to show."""


async def remove_vips(cfg: Config) -> Plan:
    owned = {Vip.of(h.interface, v) for h in cfg.cluster.ha_interfaces for v in h.vips}
    found = await links.lookup(sorted({v.ifname for v in owned}))
    return await VipReconciler(owned, {n: i.index for n, i in found.items()}).apply(set())


def run(cfg: Config, state_dir: Path) -> dict[str, Any]:
    """Remove the VIPs unless a daemon runs; what was removed and what failed."""
    lock = None
    if state_dir.is_dir():  # no state directory: no daemon ever ran with it
        try:
            lock = StateLock(state_dir)
        except Locked as exc:
            raise Refused(f"{exc}: it is running and its VIPs are its own; stop it first") from None
    try:
        done = asyncio.run(remove_vips(cfg))
    finally:
        if lock is not None:
            lock.release()
    return {"removed": [f"{v.cidr} {v.ifname}" for v in done.remove if v not in done.failed],
            "failed": {f"{v.cidr} {v.ifname}": why for v, why in done.failed.items()}}
