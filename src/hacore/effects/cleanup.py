"""`hacore cleanup`: what a daemon that died without its shutdown (kill -9,
the OOM killer) left as master, released - by hand or by the systemd unit's
ExecStopPost=: the applications that run only on the master stopped, the
interfaces disabled in backup down, the rules that send from a VIP gone,
the VIPs removed - the daemon's own release, in its order
(hacore.effects.desired).

Rules: reads the start configuration the daemon runs with; refuses while a
daemon holds the state directory, answers on the control socket, or runs
with this configuration in this network namespace (any of them would be a
live master stripped of its work, whatever --state-dir says); removes only
the configured VIPs, never the node's own addresses, and touches only
hacore's own nftables table; running it twice changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from itertools import pairwise
from pathlib import Path
from typing import Any

from hacore.config.model import Config
from hacore.effects import desired
from hacore.effects.ifaces import IfReconciler
from hacore.effects.nft import NftError, NftReconciler
from hacore.effects.services import Services
from hacore.effects.vips import VipReconciler
from hacore.support import links
from hacore.support.statelock import Locked, StateLock


class Refused(Exception):
    """Cleanup must not run now; str() is the one line to show."""


async def release(cfg: Config) -> dict[str, Any]:
    """The daemon's release (hacore.effects.desired.release), each step's outcome kept for the report."""
    failed: dict[str, str] = {}
    done: dict[str, Any] = {"stopped": [], "interfaces_down": [], "nat_rules_rewritten": False, "removed": []}
    owned = desired.owned_vips(cfg)
    found = await links.lookup(sorted({v.ifname for v in owned}))
    vips = VipReconciler(owned, {n: i.index for n, i in found.items()})

    async def services() -> bool:
        svc = Services(cfg)
        done["stopped"] = await svc.apply(master=False, maintenance=False)
        failed.update({f"application {s.name}": s.error for s in svc.states.values() if s.error})
        return False

    async def interfaces() -> bool:
        ifs = await IfReconciler(cfg).apply(master=False)
        done["interfaces_down"] = ifs.down
        failed.update({f"interface {n}": why for n, why in ifs.failed.items()})
        return False

    async def nat() -> bool:
        try:
            done["nat_rules_rewritten"] = (await NftReconciler(cfg).apply(master=False)).changed
        except NftError as exc:
            failed["nftables"] = str(exc)
        return False

    async def addresses() -> bool:
        plan = await vips.apply(set())
        done["removed"] = [f"{v.cidr} {v.ifname}" for v in plan.remove]
        failed.update({f"{v.cidr} {v.ifname}": why for v, why in plan.failed.items()})
        return False

    try:
        await desired.release(services, interfaces, nat, addresses)
    finally:
        vips.close()
    return {**done, "failed": failed}


def running_daemon(config_path: Path, socket_path: Path) -> str:
    """Why a live daemon may own this configuration's VIPs ("" when none is seen)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(socket_path))
        return f"a hacore daemon answers on {socket_path}"
    except OSError:
        pass
    finally:
        probe.close()
    try:
        own_net, wanted = os.stat("/proc/self/ns/net").st_ino, config_path.resolve()
    except OSError:
        return ""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if "daemon" not in argv or not any("hacore" in a for a in argv[:3]):
                continue
            if os.stat(proc / "ns" / "net").st_ino != own_net:
                continue  # another network namespace: not these VIPs
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue  # gone, or not ours to read
        for flag, value in pairwise(argv):
            if flag in ("-c", "--config") and (cwd / value).resolve() == wanted:
                return f"a hacore daemon (pid {proc.name}) runs with {config_path}"
    return ""


def run(cfg: Config, state_dir: Path, config_path: Path, socket_path: Path) -> dict[str, Any]:
    """Release what a master holds unless a daemon runs; what was done and what failed."""
    lock = None
    if state_dir.is_dir():  # no state directory: no daemon ever ran with it
        try:
            lock = StateLock(state_dir)
        except Locked as exc:
            raise Refused(f"{exc}: it is running and its VIPs are its own; stop it first") from None
    live = running_daemon(config_path, socket_path)
    if live:
        if lock is not None:
            lock.release()
        raise Refused(f"{live}: it is running and its VIPs are its own; stop it first")
    try:
        return asyncio.run(release(cfg))
    finally:
        if lock is not None:
            lock.release()
