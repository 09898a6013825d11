"""The composition root of a running cluster node: the one place that
builds every part - the election, the hotwire, conntrack sync, the
takeover, the notify hooks - and wires them together. The election's
Listener and the takeover's Host are implemented here, so each part knows
only the interface it was given.

Rules: no decisions (the machine makes them) and no protocol (the parts
hold them); only this module and the daemon know all parts. Background
work is supervised and restarted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from ipaddress import ip_interface
from pathlib import Path
from typing import Any

from hacore.config.model import Config
from hacore.config.parse import digest
from hacore.ctsync.service import ConntrackSync, payload_size
from hacore.effects import desired
from hacore.effects.ifaces import IfReconciler
from hacore.effects.nft import NftReconciler
from hacore.effects.notify import Notifier
from hacore.effects.services import Services
from hacore.effects.steps import Effects
from hacore.effects.takeover import Change, TakeoverRunner
from hacore.effects.vips import VipReconciler
from hacore.hotwire import status
from hacore.hotwire.service import Hotwire
from hacore.node import watchdog
from hacore.node.history import History
from hacore.node.keychange import KeyChange
from hacore.node.spareloop import SpareLoop
from hacore.node.state import NodeState
from hacore.security.keys import Keys
from hacore.support import links, supervise
from hacore.support.counters import Counters
from hacore.support.logfmt import log
from hacore.vrrp import timing
from hacore.vrrp.machine import Announced, Delay, Maintenance, PeerStatus, Ping, Role, SyncState
from hacore.vrrp.service import Election, now_us

logger = logging.getLogger("hacore.election")
PERSIST_EVERY_S = 1.0  # replay state: how much a restart may forget (hacore.security.replay)
FLUSH_TIMEOUT_S = 2.0  # a takeover waits at most this for replicated flows still being written
SYNC_ROLE = {Role.MASTER: "master", Role.BACKUP: "backup"}


class Node:
    def __init__(self, cfg: Config, history: History, maintenance: bool, state_dir: Path, keys: Keys):
        self.cfg = cfg
        self.history = history
        c = cfg.cluster
        self.state = NodeState(state_dir)
        self.restarts = supervise.COUNTERS.new()
        self.hotwire = (Hotwire(c.hotwire, keys.hotwire, self.state.counter, self.state.hotwire_window, now_us)
                        if c.hotwire.interface else None)
        self.spare_loop = SpareLoop(cfg.node.timing)
        self.sync = ConntrackSync.on(self.hotwire, c, now_us, lambda done: self.election.feed(SyncState(done)),
                                     self.spare_loop)
        self.syncs = self.sync is not None
        self.election = Election(cfg, keys.vrrp, self.state.counter, self.state.vrrp_window, maintenance,
                                 self.syncs, self, self.restarts)
        self.runner = TakeoverRunner(cfg, VipReconciler(desired.owned_vips(cfg), {}), self.election.links.infos,
                                     self, _effects(cfg))
        self.notifier = Notifier(c.notify, c.notify_timeout_s, cfg.node.name)
        self.keys = KeyChange(keys, self.election.port, self.hotwire)
        self._hotwire_index: int | None = None  # the hotwire socket is bound to this index
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = watchdog.SenderProgress()
        self._role_waiters: list[tuple[Role, asyncio.Future[None]]] = []  # maintenance set 1 waits for backup

    # -- start and stop ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.hotwire is not None:
            self.hotwire.on_status = lambda s: self.election.feed(
                PeerStatus(Role(s.role), now_us(), s.priority, s.maintenance))
        self.spare_loop.start()
        await self.election.start({self.cfg.cluster.hotwire.interface} - {""})

    async def stop(self) -> None:
        """Hand over (priority 0, keep the VIPs until the peer announces itself), then release everything."""
        await self.election.hand_over()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.election.stop()
        self.spare_loop.close()
        if self.election.machine is not None:
            await self.runner.stop()  # releases everything: services, interfaces, NAT, VIPs
        await self.election.close()
        if self.sync is not None:
            self.sync.close()
        if self.hotwire is not None:
            self.hotwire.close()
        await self._persist()

    def health(self, now_s: float) -> str:
        """'' while this node's advert sender does its job as master; else why not (for the watchdog)."""
        return self._progress.judge(self.election.machine, self.election.port.sender_info(), now_s)

    def counter_sets(self) -> list[Counters]:
        """Every counter set this node keeps now (for metrics)."""
        e = self.election
        out = [self.restarts, e.counters, e.port.counters, self.runner.steps.counters, self.notifier.counters,
               self.history.counters]
        if e.machine is not None:
            out.append(e.machine.counters)
        if self.hotwire is not None:
            out.append(self.hotwire.counters)
        if self.sync is not None:
            out += self.sync.counter_sets()
        return out

    def _supervise(self, name: str, work: Any) -> None:
        self._tasks.append(supervise.start(name, work, self.restarts))

    # -- the election's Listener --------------------------------------------------------------------

    async def before_first_advert(self) -> None:
        hotwire = self.cfg.cluster.hotwire
        if hotwire.interface:
            hw = (await links.lookup([hotwire.interface])).get(hotwire.interface)
            self._hotwire_index = hw.index if hw else None
            if self.sync is not None and hw is not None:
                self.sync.max_payload = payload_size(hw.mtu, ip_interface(hotwire.local_address).version)
        await self._persist(force_hwm=True)  # the counter's reserve is on disk before the first advert
        self.runner.vips.index.update({n: i.index for n, i in self.election.links.infos.items()})
        self.runner.warm()
        # A starting node is not master: VIPs a crash left behind go first, before anything can
        # reconcile concurrently (the runner acts only once the machine exists).
        removed = await self.runner.vips.apply(set())
        if removed:
            log(logger, "vips_removed_at_start", vips=",".join(v.cidr for v in removed.remove))

    def started(self) -> None:
        hw = self.hotwire
        if hw is not None:
            self._supervise("hotwire_status", lambda: hw.run(
                self._status, lambda: timing.status_interval_s(self.cfg.cluster.update_trigger_delay_s)))
        self._supervise("reconcile", self.runner.periodic)
        self._supervise("notify", self.notifier.serve)
        if self.sync is not None:
            self._supervise("conntrack_sync", self.sync.run)
        self._supervise("persist", self._persist_loop)
        if self.spare_loop.wanted:
            self._supervise("spare_loop", self.spare_loop.keep)

    def role_changed(self, old: Role, new: Role, reason: str) -> None:
        if self.hotwire is not None and new != Role.MASTER:  # a yield: the master that stays re-announces first
            self.hotwire.send_status(self._status())
        when = time.time()
        self.runner.changed(str(old), str(new), reason, when)
        if self.hotwire is not None and new == Role.MASTER:  # after the takeover's first steps: not in the outage
            self.hotwire.send_status(self._status())
        if self.sync is not None:  # the runner's first step waits for writes still in flight
            self.sync.set_role(SYNC_ROLE.get(new, "off"))
        self.history.append(when, str(old), str(new), reason)
        self.state.save_soon(self.history)
        for role, done in self._role_waiters:
            if role == new and not done.done():
                done.set_result(None)
        self.spare_loop.follow(new == Role.BACKUP)  # after the takeover's first steps: those ran still up there

    async def wait_role(self, role: Role, timeout_s: float) -> bool:
        """Whether the machine is in role, or reaches it within timeout_s."""
        m = self.election.machine
        if m is None or m.role == role:
            return m is not None
        waiter = (role, asyncio.get_running_loop().create_future())
        self._role_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter[1], timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            self._role_waiters.remove(waiter)

    def announce(self) -> None:
        self.runner.kick(announce=True)

    def note(self, role: Role, reason: str) -> None:
        self.history.append(time.time(), str(role), str(role), reason)
        self.state.save_soon(self.history)

    def link_changed(self, name: str, info: links.LinkInfo | None) -> None:
        if info is None:
            self.runner.vips.index.pop(name, None)
        else:
            self.runner.vips.index[name] = info.index
        self.runner.rounds.forget_link(name)
        if info is not None:
            self.runner.warm()
            self.runner.kick(announce=self.is_master())

    def other_link(self, name: str, index: int | None) -> None:
        if self.hotwire is not None and index != self._hotwire_index:  # deleted or re-created: bound to the old
            self._hotwire_index = index
            self.hotwire.close()  # the status loop opens it again once it can

    def addresses_changed(self) -> None:
        self.runner.kick(announce=False)

    # -- the takeover's Host ------------------------------------------------------------------------

    def is_master(self) -> bool:
        return self.election.is_master()

    def in_maintenance(self) -> bool:
        return self.election.maintenance

    def flows_in_kernel(self) -> bool:
        return self.sync is None or not self.sync.in_flight()

    async def commit(self) -> None:
        """No VIP moves before the replicated table is in the kernel, bounded: a stuck write must not hold them."""
        assert self.sync is not None
        t0 = time.monotonic()
        in_flight = self.sync.in_flight()
        if not await self.sync.flush(FLUSH_TIMEOUT_S):
            log(logger, "sync_flush_timeout", logging.WARNING, timeout_s=FLUSH_TIMEOUT_S)
        elif in_flight:
            log(logger, "sync_flushed", writes=in_flight, waited_ms=round((time.monotonic() - t0) * 1e3, 2))

    def announced(self) -> None:
        m = self.election.machine
        if m is not None and m.holding:  # the first round of a takeover; later rounds are no news to it
            self.election.feed(Announced())

    def steps_taken(self, change: Change, steps: dict[str, float]) -> None:
        """A role change is carried out: its steps go into its history entry, then the hooks run."""
        if self.history.annotate(change.key, steps):
            self.state.save_soon(self.history)
        self.notifier.notify(change.old, change.role, change.reason)

    # -- persistence and keys -----------------------------------------------------------------------

    async def _persist_loop(self) -> None:
        while True:
            await asyncio.sleep(PERSIST_EVERY_S)
            peer = self.peer_fresh()
            self.keys.advance(peer is not None and peer.digest == digest(self.cfg))
            await self._persist()

    async def _persist(self, force_hwm: bool = False) -> None:
        await self.state.persist(self.election.port.fast, force_hwm)
        self.election.port.report()

    def _status(self) -> status.Status:
        m = self.election.machine
        assert m is not None
        return status.Status(self.cfg.node.name, str(m.role), m.priority(), m.maintenance, digest(self.cfg))

    # -- commands ------------------------------------------------------------------------------------

    def set_maintenance(self, on: bool) -> None:
        self.election.maintenance = on
        self.election.feed(Maintenance(on))

    def maintenance_refusal(self) -> str:
        m = self.election.machine
        return m.maintenance_refusal(now_us()) if m is not None else "the cluster is not running"

    async def reconfigure(self, new: Config) -> None:
        """A configuration differing only in live settings (hacore.config.live): no restart, no switchover."""
        old, self.cfg = self.cfg, new
        c = new.cluster
        self.election.cfg = self.runner.cfg = new
        self.runner.steps.effects = _effects(new)
        self.notifier.hooks, self.notifier.timeout_s = c.notify, c.notify_timeout_s
        owned = desired.owned_vips(new)
        if owned != self.runner.vips.owned:
            self.election.port.set_vips(new)
            self.election.links.reopen_all()  # the adverts carry the new addresses
            self.runner.set_vips(owned)
        if c.update_trigger_delay_s != old.cluster.update_trigger_delay_s:
            self.election.feed(Delay(round(c.update_trigger_delay_s * 1e6)))
            if self.hotwire is not None:
                self.hotwire.repace()
        if c.ping_check != old.cluster.ping_check:
            self.election.start_ping()
            self.election.feed(Ping(True, ""))  # the old targets' verdict does not hold for the new ones
        self.runner.kick(announce=False)

    def services_view(self) -> list[dict[str, Any]]:
        return self.runner.steps.services_view()

    def peer_fresh(self) -> status.Status | None:
        """The peer's status if it came within the delay."""
        return self.hotwire.fresh(self.cfg.cluster.update_trigger_delay_s) if self.hotwire is not None else None


def _effects(cfg: Config) -> Effects:
    return Effects(NftReconciler(cfg), IfReconciler(cfg), Services(cfg))
