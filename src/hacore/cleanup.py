"""`hacore cleanup`: what a daemon that died without its shutdown (kill -9,
the OOM killer) left as master, released - by hand or by the systemd unit's
ExecStopPost=: the applications that run only on the master stopped, the
interfaces disabled in backup down, the rules that send from a VIP gone,
the VIPs removed - the daemon's own release, in its order.

Rules: reads the start configuration the daemon runs with; refuses while a
daemon holds the state directory (it would strip a live master); removes only
the configured VIPs, never the node's own addresses, and touches only
hacore's own nftables table; running it twice changes nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hacore import links
from hacore.config.model import Config
from hacore.effects.ifaces import IfReconciler
from hacore.effects.nft import NftError, NftReconciler
from hacore.effects.services import Services
from hacore.effects.vips import Vip, VipReconciler
from hacore.statelock import Locked, StateLock


class Refused(Exception):
    """Cleanup must not run now; str() is the one line to show."""


async def release(cfg: Config) -> dict[str, Any]:
    failed: dict[str, str] = {}
    services = Services(cfg)
    stopped = await services.apply(master=False, maintenance=False)
    failed |= {f"application {s.name}": s.error for s in services.states.values() if s.error}
    ifs = await IfReconciler(cfg).apply(master=False)
    failed |= {f"interface {n}": why for n, why in ifs.failed.items()}
    try:
        nat = (await NftReconciler(cfg).apply(master=False)).changed
    except NftError as exc:
        nat = False
        failed["nftables"] = str(exc)
    owned = {Vip.of(h.interface, v) for h in cfg.cluster.ha_interfaces for v in h.vips}
    found = await links.lookup(sorted({v.ifname for v in owned}))
    vips = VipReconciler(owned, {n: i.index for n, i in found.items()})
    try:
        done = await vips.apply(set())
    finally:
        vips.close()
    failed |= {f"{v.cidr} {v.ifname}": why for v, why in done.failed.items()}
    return {"removed": [f"{v.cidr} {v.ifname}" for v in done.remove], "stopped": stopped,
            "interfaces_down": ifs.down, "nat_rules_rewritten": nat, "failed": failed}


def run(cfg: Config, state_dir: Path) -> dict[str, Any]:
    """Release what a master holds unless a daemon runs; what was done and what failed."""
    lock = None
    if state_dir.is_dir():  # no state directory: no daemon ever ran with it
        try:
            lock = StateLock(state_dir)
        except Locked as exc:
            raise Refused(f"{exc}: it is running and its VIPs are its own; stop it first") from None
    try:
        return asyncio.run(release(cfg))
    finally:
        if lock is not None:
            lock.release()
