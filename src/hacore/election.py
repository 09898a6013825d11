"""Runs the election machine for real: raw VRRP sockets on every HA link,
carrier from netlink events, ping checks, the peer's status over the hotwire,
and the effects (VIPs, then GARP / unsolicited NA).

Rules: the machine decides; this module only does I/O. Whenever the loop
wakes, sockets are drained before a timer acts, so after a stall the newest
state wins; effects are reconciled from the role as it is now, never replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface
from pathlib import Path
from types import ModuleType
from typing import Any

from hacore import hotwire, links
from hacore.atomic import atomic_write
from hacore.config.model import AuthMode, Config, Priority
from hacore.config.parse import digest
from hacore.effects import announce
from hacore.effects.vips import Vip, VipReconciler
from hacore.history import History
from hacore.logfmt import log
from hacore.vrrp import codec as codec_py
from hacore.vrrp import rank
from hacore.vrrp.auth import TRAILER_LEN, Signer, Verifier, derive_key
from hacore.vrrp.codec import Advert as WireAdvert
from hacore.vrrp.codec import Expect, pad_key
from hacore.vrrp.drops import AuthType, Checksum, Drop
from hacore.vrrp.machine import (
    Announce,
    Carrier,
    Delay,
    Machine,
    Maintenance,
    Params,
    PeerStatus,
    Ping,
    Role,
    Send,
    Shutdown,
    SplitBrain,
    Tick,
    Transition,
)
from hacore.vrrp.receive import accept
from hacore.vrrp.sockets import LinkSockets

logger = logging.getLogger("hacore.election")


def _log_takeover(t0: float, t1: float) -> None:
    """Takeover step timings (monotonic seconds: start, VIPs done; now: first announcement out)."""
    t2 = time.monotonic()
    log(logger, "takeover_steps", vips_ms=round((t1 - t0) * 1e3, 2), first_announce_ms=round((t2 - t1) * 1e3, 2),
        total_ms=round((t2 - t0) * 1e3, 2))


def now_us() -> int:
    return time.monotonic_ns() // 1000


def active_codec() -> ModuleType:
    try:
        from hacore.vrrp import fastcodec
    except ImportError:
        return codec_py
    return fastcodec


@dataclass
class Instance:
    """One VRRP instance: one HA link, one address family."""

    link: str
    family: int
    vrid: int
    addresses: tuple[IPv4Address | IPv6Address, ...]  # the VIPs this instance advertises
    sockets: LinkSockets
    expect: Expect


class Election:
    def __init__(self, cfg: Config, history: History, maintenance: bool, counter_path: Path):
        self.cfg = cfg
        self.history = history
        self.counter_path = counter_path
        self.maintenance = maintenance
        c = cfg.cluster
        self.codec = active_codec()
        self.version = 2 if c.auth == AuthMode.PASS else 3
        self.key = derive_key(c.passphrase)
        self.signer = Signer(self.key) if c.auth == AuthMode.HMAC else None
        if self.signer is not None:
            # The counter follows the wall clock; after a restart with the clock stepped
            # back, the peer would take fresh adverts for replays. Continue from the last.
            with contextlib.suppress(FileNotFoundError, ValueError):
                self.signer.counter = int(counter_path.read_text())
        self.verifier = Verifier(self.key) if c.auth == AuthMode.HMAC else None
        self.status_rx = hotwire.Receiver(self.key)
        self.instances: list[Instance] = []
        self.infos: dict[str, links.LinkInfo] = {}
        self.owned = {Vip.of(h.interface, v) for h in c.ha_interfaces for v in h.vips}
        self.vips: VipReconciler | None = None
        self.announcer = announce.Announcer()
        self.machine: Machine | None = None
        self.drops: dict[str, Counter[str]] = defaultdict(Counter)
        self.counters: Counter[str] = Counter()
        self.peer: tuple[hotwire.Status, float] | None = None  # status, monotonic seconds when received
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._reconcile_task: asyncio.Task[None] | None = None
        self._reconcile_again = False
        self._announce_pending = False
        # A new master's first advert waits until its VIPs and first GARP/NA round are
        # out: the old master gives the addresses up the moment it hears that advert.
        self._holding_adverts = False
        self._held_priority: int | None = None
        self._done = asyncio.Event()
        self._status_sock: socket.socket | None = None

    # -- start and stop ---------------------------------------------------------

    async def start(self) -> None:
        c = self.cfg.cluster
        names = [h.interface for h in c.ha_interfaces]
        self.infos = await links.lookup(names + ([c.hotwire.interface] if c.hotwire.interface else []))
        index = {n: self.infos[n].index for n in names}
        self.vips = VipReconciler(self.owned, index)
        loop = asyncio.get_running_loop()
        local_ips: dict[tuple[str, int], bytes] = {}
        for n, ha in enumerate(c.ha_interfaces):
            info = self.infos[ha.interface]
            for family, vips in ((socket.AF_INET, [v for v in ha.vips if ip_interface(v).version == 4]),
                                 (socket.AF_INET6, [v for v in ha.vips if ip_interface(v).version == 6])):
                if not vips:
                    continue
                src = self._source(ha.interface, family)
                if src is None:
                    log(logger, "no_source_address", logging.ERROR, link=ha.interface, family=family)
                    continue
                sockets = LinkSockets(ha.interface, info.index, family, src)
                local_ips[(ha.interface, len(sockets.src))] = sockets.src
                expect = Expect(version=self.version, vrid=c.vrid_offset + n, checksum=Checksum[c.vrrp_checksum.name],
                                auth_type=AuthType.PASS if self.version == 2 else AuthType.NONE,
                                auth_key=c.passphrase.encode(), trailer_len=TRAILER_LEN if self.signer else 0)
                inst = Instance(ha.interface, family, c.vrid_offset + n, tuple(ip_interface(v).ip for v in vips),
                                sockets, expect)
                self.instances.append(inst)
                loop.add_reader(sockets.fileno(), self._on_readable, inst)
        params = Params(tuple(names), high=self.cfg.node.priority == Priority.HIGH,
                        update_trigger_delay_us=round(c.update_trigger_delay_s * 1e6),
                        min_hold_us=round(c.min_hold_s * 1e6), ping_failures=c.ping_check.failures,
                        local_ips=local_ips)
        self.machine = Machine(params, now_us(), enabled=c.enabled, maintenance=self.maintenance)
        removed = await self.vips.apply(set())  # a starting node is not master yet
        if removed:
            log(logger, "vips_removed_at_start", vips=",".join(v.cidr for v in removed.remove))
        for name in names:
            self._feed(Carrier(name, self.infos[name].carrier))
        self._tasks.append(asyncio.create_task(links.watch(
            index, self._on_carrier, lambda _name: self._reconcile(announce=False))))
        if c.ping_check.targets:
            self._tasks.append(asyncio.create_task(self._ping_loop()))
        if c.hotwire.interface:
            self._open_status_socket()
            self._tasks.append(asyncio.create_task(self._status_loop()))
        self._feed(Tick())

    def _source(self, ifname: str, family: int) -> str | None:
        """Our own address on the link: configured unique address first, else what the kernel has."""
        iface = self.cfg.interface(ifname)
        vips = {str(ip_interface(v.cidr).ip) for v in self.owned}
        if family == socket.AF_INET:
            configured = [str(ip_interface(a).ip) for a in (iface.addresses if iface else ())
                          if ip_interface(a).version == 4]
            kernel = [a for a in self.infos[ifname].ipv4 if a not in vips]
            return (configured or kernel or [None])[0]
        return self.infos[ifname].ipv6_link_local  # RFC 5798: IPv6 adverts come from the link-local address

    async def stop(self) -> None:
        """Hand over (priority 0, keep the VIPs until the peer announces itself), then remove the VIPs."""
        if self.machine is not None:
            self._feed(Shutdown())
            try:
                await asyncio.wait_for(self._done.wait(), self.cfg.cluster.update_trigger_delay_s + 0.5)
            except TimeoutError:
                log(logger, "handover_timeout", logging.WARNING)
        for task in self._tasks:
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
        if self._reconcile_task is not None:
            await asyncio.gather(self._reconcile_task, return_exceptions=True)
        if self.vips is not None:
            await self.vips.apply(set())
        loop = asyncio.get_running_loop()
        for inst in self.instances:
            loop.remove_reader(inst.sockets.fileno())
            inst.sockets.close()
        if self._status_sock is not None:
            loop.remove_reader(self._status_sock.fileno())
            self._status_sock.close()
        self.announcer.close()
        if self.signer is not None:
            atomic_write(self.counter_path, str(self.signer.counter).encode())

    # -- feeding the machine -------------------------------------------------------

    def _feed(self, event: object) -> None:
        assert self.machine is not None
        actions = self.machine.handle(event, now_us())  # type: ignore[arg-type]
        if any(isinstance(a, Transition) and a.new == Role.MASTER for a in actions):
            self._holding_adverts = True
        for action in actions:
            match action:
                case Send(priority) if self._holding_adverts:
                    self._held_priority = priority
                case Send(priority):
                    self._send_adverts(priority)
                case Transition(old, new, reason):
                    self._on_transition(old, new, reason)
                case Announce(reason):
                    log(logger, "announce", reason=reason)
                    self._reconcile(announce=True)
                case SplitBrain(active, reason):
                    log(logger, "split_brain_start" if active else "split_brain_end",
                        logging.WARNING if active else logging.INFO, reason=reason)
        if self.machine.done:
            self._done.set()
        self._rearm()

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        deadline = self.machine.deadline_us(now_us()) if self.machine else None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline / 1e6, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        for inst in self.instances:  # the newest state first: what arrived while we were away
            self._on_readable(inst)
        self._feed(Tick())

    def _on_transition(self, old: Role, new: Role, reason: str) -> None:
        self._reconcile(announce=new == Role.MASTER)
        log(logger, "role_change", old=old, new=new, reason=reason)
        self.history.append(time.time(), str(old), str(new), reason)
        # The file is fsynced: on a thread, so the VIPs do not wait for the disk.
        asyncio.get_running_loop().run_in_executor(None, self.history.save)

    # -- adverts ---------------------------------------------------------------------------

    def _send_adverts(self, priority: int) -> None:
        utd_s = self.machine.p.update_trigger_delay_us / 1e6 if self.machine else 1.0
        interval_cs = max(1, min(4095, round(utd_s * 100 / 3)))
        if self.version == 2:
            interval_cs = max(1, round(utd_s / 3)) * 100
        for inst in self.instances:
            if not self.machine or not self.machine.carrier.get(inst.link):
                continue
            auth_data = pad_key(inst.expect.auth_key) if self.version == 2 else b""
            adv = WireAdvert(self.version, inst.vrid, priority, interval_cs, inst.addresses, inst.expect.auth_type,
                             auth_data)
            s = inst.sockets
            try:
                if self.signer is not None:
                    msg = self.signer.seal(adv, s.src, s.dst, inst.expect.checksum, time.time_ns() // 1000,
                                           self.codec.encode)
                else:
                    msg = self.codec.encode(adv, s.src, s.dst, inst.expect.checksum)
                s.send(msg)
                self.counters["adverts_tx"] += 1
            except OSError as exc:
                self.drops[inst.link]["send_error"] += 1
                log(logger, "send_failed", logging.DEBUG, link=inst.link, error=exc)

    def _on_readable(self, inst: Instance) -> None:
        for rx in inst.sockets.drain():
            result = accept(inst.link, inst.family, rx, inst.expect, self.codec, self.verifier)
            if isinstance(result, Drop):
                self.drops[inst.link][result.name.lower()] += 1
                continue
            self._feed(result)

    # -- carrier, ping, hotwire -------------------------------------------------------------

    def _on_carrier(self, link: str, up: bool) -> None:
        log(logger, "carrier", link=link, up=up)
        self._feed(Carrier(link, up))

    async def _ping_loop(self) -> None:
        pc = self.cfg.cluster.ping_check
        timeout = f"{max(0.2, pc.interval_s * 0.8):g}"
        while True:
            started = time.monotonic()
            failed = ""
            ok = False
            for target in pc.targets:
                proc = await asyncio.create_subprocess_exec(
                    "ping", "-n", "-q", "-c", "1", "-W", timeout, target,
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
                if await proc.wait() == 0:
                    ok = True
                else:
                    failed = failed or target
            self._feed(Ping(ok, failed))
            await asyncio.sleep(max(0.0, pc.interval_s - (time.monotonic() - started)))

    def _open_status_socket(self) -> None:
        hw = self.cfg.cluster.hotwire
        s = socket.socket(socket.AF_INET if ip_address(hw.remote_address).version == 4 else socket.AF_INET6,
                          socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, hw.interface.encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((str(ip_interface(hw.local_address).ip), hotwire.PORT))
        s.setblocking(False)
        self._status_sock = s
        asyncio.get_running_loop().add_reader(s.fileno(), self._on_status)

    async def _status_loop(self) -> None:
        hw = self.cfg.cluster.hotwire
        while True:
            if self.machine is not None and self._status_sock is not None:
                status = hotwire.Status(self.cfg.node.name, str(self.machine.role), self.machine.priority(),
                                        self.machine.maintenance, time.time_ns() // 1000, digest(self.cfg))
                try:
                    self._status_sock.sendto(hotwire.seal(self.key, status), (hw.remote_address, hotwire.PORT))
                except OSError:
                    self.drops["hotwire"]["send_error"] += 1
            await asyncio.sleep(self.cfg.cluster.update_trigger_delay_s / 3)

    def _on_status(self) -> None:
        assert self._status_sock is not None
        for _ in range(64):
            try:
                data, addr = self._status_sock.recvfrom(hotwire.MAX_LEN + 1)
            except BlockingIOError:
                return
            if ip_address(addr[0]) != ip_address(self.cfg.cluster.hotwire.remote_address):
                self.drops["hotwire"]["wrong_peer"] += 1
                continue
            status = self.status_rx.accept(data)
            if isinstance(status, str) or status.role not in set(Role):
                self.drops["hotwire"][status if isinstance(status, str) else "malformed"] += 1
                continue
            self.peer = (status, time.monotonic())
            self._feed(PeerStatus(Role(status.role), now_us()))

    # -- effects ---------------------------------------------------------------------------

    def _reconcile(self, announce: bool) -> None:
        self._announce_pending |= announce
        if self._reconcile_task is not None and not self._reconcile_task.done():
            self._reconcile_again = True
            return
        self._reconcile_task = asyncio.create_task(self._reconcile_loop())

    def _release_adverts(self) -> None:
        self._holding_adverts = False
        held, self._held_priority = self._held_priority, None
        if held is not None and self.machine is not None and self.machine.role == Role.MASTER:
            self._send_adverts(held)

    async def _reconcile_loop(self) -> None:
        try:
            await self._reconcile_until_settled()
        finally:
            self._release_adverts()  # also when netlink failed: silence would look like a dead node

    async def _reconcile_until_settled(self) -> None:
        assert self.vips is not None
        while True:
            self._reconcile_again = False
            master = self.machine is not None and self.machine.role == Role.MASTER
            t0 = time.monotonic()
            try:
                todo = await self.vips.apply(self.owned if master else set())
            except Exception as exc:  # netlink refused: log, count, try again on the next change
                self.counters["vip_errors"] += 1
                log(logger, "vips_failed", logging.ERROR, error=exc)
                return
            t1 = time.monotonic()
            if todo:
                log(logger, "vips", add=",".join(v.cidr for v in todo.add) or "-",
                    remove=",".join(v.cidr for v in todo.remove) or "-", took_ms=round((t1 - t0) * 1e3, 2))
            if master and self._announce_pending:
                self._announce_pending = False
                await self._announce(on_first_round=partial(_log_takeover, t0, t1))
            if not self._reconcile_again:
                return

    async def _announce(self, on_first_round: Callable[[], None]) -> None:
        c = self.cfg.cluster
        for n in range(c.garp_repeat):
            if self.machine is None or self.machine.role != Role.MASTER:
                return
            for vip in sorted(self.owned, key=lambda v: (ip_interface(v.cidr).version, v.ifname)):
                info = self.infos[vip.ifname]
                addr = ip_interface(vip.cidr).ip
                try:
                    if addr.version == 4:
                        self.announcer.garp(vip.ifname, info.mac, str(addr))
                    else:
                        self.announcer.na(vip.ifname, info.index, info.mac, str(addr))
                    self.counters["announcements"] += 1
                except OSError as exc:
                    self.drops[vip.ifname]["announce_error"] += 1
                    log(logger, "announce_failed", logging.WARNING, vip=vip.cidr, error=exc)
            if n == 0:
                on_first_round()
                self._release_adverts()
            if n + 1 < c.garp_repeat:
                await asyncio.sleep(c.garp_interval_s)

    # -- commands and visibility ------------------------------------------------------------

    def set_delay(self, seconds: float) -> None:
        self._feed(Delay(round(seconds * 1e6)))

    def set_maintenance(self, on: bool) -> None:
        self.maintenance = on
        self._feed(Maintenance(on))

    def peer_fresh(self) -> hotwire.Status | None:
        if self.peer is None:
            return None
        status, at = self.peer
        return status if time.monotonic() - at < self.cfg.cluster.update_trigger_delay_s else None

    def info(self) -> dict[str, Any]:
        m = self.machine
        if m is None:
            return {"cluster_state": "none"}
        own = m.rank()
        mine = {**own.parts(), "priority": m.priority(), "demotion": m.demotion or "-",
                "maintenance": m.maintenance}
        peer_info: dict[str, Any] = {"seen": False}
        status = self.peer_fresh()
        if status is not None:
            parts = rank.decode(status.priority)
            peer_info = {"seen": True, "node": status.node, "role": status.role, "priority": status.priority,
                         "maintenance": status.maintenance, **(parts.parts() if parts else {"resigned": True})}
        return {
            "cluster_state": str(m.role),
            "rank": {"self": mine, "peer": peer_info},
            "split_brain": m.split_brain,
            "failovers": m.counters["to_master"],
            "adverts_tx": self.counters["adverts_tx"],
            "adverts_rx": m.counters["adverts_rx"],
            "vip_errors": self.counters["vip_errors"],
            "drops": {link: dict(c) for link, c in self.drops.items() if c},
            "carrier": dict(m.carrier),
            "advert_interval_ms": round(m.advert_interval_us / 1000, 3),
            "announcements": self.counters["announcements"],
            "machine_counters": dict(m.counters),
        }

