"""Runs the election machine for real: owns the machine and its timer, and
wires it to the advert port (VRRP), the peer link (hotwire status), the ping
checks, the netlink watch and the takeover runner.

Rules: the machine decides; the parts do I/O. Whenever the loop wakes,
sockets are drained before a timer acts, so after a stall the newest state
wins. An error in handling one event is logged and counted and never leaves
the timer unarmed; background work is supervised and restarted. The
election waits, instead of failing, until every HA interface and its
address exist, and follows links that are deleted and re-created.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from ipaddress import ip_interface
from pathlib import Path
from typing import Any

from hacore.config.model import AuthMode, Config, Priority
from hacore.config.parse import digest
from hacore.ctsync.service import ConntrackSync, payload_size
from hacore.effects.ifaces import IfReconciler
from hacore.effects.nft import NftReconciler
from hacore.effects.notify import Notifier
from hacore.effects.services import Services
from hacore.effects.takeover import Change, Effects, TakeoverRunner
from hacore.effects.vips import Vip, VipReconciler, keep_own_addresses
from hacore.hotwire.service import PeerLink
from hacore.hotwire.status import Status
from hacore.native import fastpath
from hacore.node.history import History
from hacore.node.info import election_info
from hacore.security.keys import Keys, Rotation
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.support import links, statefile, supervise
from hacore.support.logfmt import log
from hacore.vrrp import pingcheck
from hacore.vrrp.machine import (
    Advert,
    Announce,
    Carrier,
    Delay,
    Event,
    Machine,
    Maintenance,
    Note,
    Params,
    PeerStatus,
    Ping,
    Refused,
    Role,
    Send,
    Shutdown,
    SplitBrain,
    SyncState,
    Tick,
    Transition,
)
from hacore.vrrp.port import AdvertPort, Instance
from hacore.vrrp.rxfilter import ReceiveFilter

logger = logging.getLogger("hacore.election")
PERSIST_EVERY_S = 1.0  # replay state: how much a restart may forget (hacore.security.replay)
FLUSH_TIMEOUT_S = 2.0  # a takeover waits at most this for replicated flows still being written


def now_us() -> int:
    return time.monotonic_ns() // 1000


class Election:
    def __init__(self, cfg: Config, history: History, maintenance: bool, state_dir: Path, keys: Keys):
        self.cfg = cfg
        self.history = history
        self.maintenance = maintenance
        c = cfg.cluster
        self.names = [h.interface for h in c.ha_interfaces]
        self.hwm_path = state_dir / "counter_hwm.json"
        self.replay_path = state_dir / "replay.json"
        stored = statefile.load(self.replay_path, _replay_shape, {"vrrp": {}, "hotwire": {}})
        self.vrrp_window = ReplayWindow(stored["vrrp"])
        self.hotwire_window = ReplayWindow(stored["hotwire"])
        hwm = statefile.load(self.hwm_path, lambda v: type(v) is int and v >= 0, 0)
        self.counter = CounterSource(hwm, now_us(), time.time_ns() // 1000)
        self.rotation = Rotation(keys)
        self.port = AdvertPort(cfg, keys.vrrp, self.counter if c.auth == AuthMode.HMAC else None, self.vrrp_window,
                               self._on_advert, now_us)
        self.port.on_refused = lambda link, arrival_us: self._feed(Refused(link, arrival_us))
        self.rx = ReceiveFilter(cfg, self.port.version, self._spawn)
        self.peerlink = (PeerLink(cfg, keys.hotwire, self.counter, self.hotwire_window, self._on_status, now_us)
                         if c.hotwire.interface else None)
        self.infos: dict[str, links.LinkInfo] = {}
        self.sync = self._make_sync(keys)
        owned = {Vip.of(h.interface, v) for h in c.ha_interfaces for v in h.vips}
        effects = Effects(NftReconciler(cfg), IfReconciler(cfg), Services(cfg))
        self.runner = TakeoverRunner(cfg, VipReconciler(owned, {}), self.infos, self._is_master, self._release_adverts,
                                     self._before_vips if self.sync else None, effects, lambda: self.maintenance,
                                     self._on_steps, lambda: self.sync is None or not self.sync.writes)
        self.notifier = Notifier(c.notify, c.notify_timeout_s, cfg.node.name)
        self.machine: Machine | None = None
        self.waiting: list[str] = []  # what must exist before the election can start
        self.link_problems: dict[str, str] = {}  # HA link -> why its adverts cannot run now
        self.state_problem = ""  # why the state directory cannot be written now (a full disk), for cluster info
        self._hwm_unsaved = False
        self.promotion: dict[str, str] = {}  # HA link -> promote_secondaries in force (own addresses kept)
        self._hotwire_index: int | None = None  # the peer link's socket is bound to this index
        self._starting = False  # a start attempt is under way: events ask for another, not a second one
        self._start_again = False
        self.counters: Counter[str] = Counter()
        self.restarts: Counter[str] = Counter()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._holding_adverts = False  # a new master speaks once its VIPs and first GARP/NA round are out
        self._held_priority: int | None = None
        self._done = asyncio.Event()
        self._ping_task: asyncio.Task[None] | None = None

    def _make_sync(self, keys: Keys) -> ConntrackSync | None:
        c = self.cfg.cluster
        if not c.sync.conntrack or self.peerlink is None:
            return None
        if fastpath is None:
            log(logger, "sync_unavailable", logging.ERROR, error="hacore._fastpath is not built")
            return None
        version = ip_interface(c.hotwire.local_address).version
        sync = ConntrackSync(keys.hotwire, self.counter, self.hotwire_window, c.hotwire.remote_address,
                             self.peerlink.send_raw, now_us, self._on_sync_complete, payload_size(1500, version))
        self.peerlink.on_sync = sync.on_datagram
        return sync

    async def _before_vips(self) -> None:
        """No VIP moves before the replicated table is in the kernel (bounded: a stuck write must not
        keep the addresses from a takeover)."""
        assert self.sync is not None
        t0 = time.monotonic()
        in_flight = len(self.sync.writes)
        if not await self.sync.flush(FLUSH_TIMEOUT_S):
            log(logger, "sync_flush_timeout", logging.WARNING, timeout_s=FLUSH_TIMEOUT_S)
        elif in_flight:
            log(logger, "sync_flushed", writes=in_flight, waited_ms=round((time.monotonic() - t0) * 1e3, 2))

    def _on_steps(self, change: Change, steps: dict[str, float]) -> None:
        """A role change is carried out: its steps go into its history entry, then the hooks run."""
        if self.history.annotate(change.key, steps):
            self._spawn(self._save_history())
        self.notifier.notify(change.old, change.role, change.reason)

    def _on_sync_complete(self, complete: bool) -> None:
        self._feed(SyncState(complete))

    # -- start and stop ------------------------------------------------------------

    async def start(self) -> None:
        watched = set(self.names) | ({self.cfg.cluster.hotwire.interface} - {""})
        self._tasks.append(supervise.start("netlink_watch", lambda: links.watch(
            watched, self._on_link, self._on_address), self.restarts))
        await self._try_start()

    async def _try_start(self) -> None:
        """Start once everything exists; one attempt at a time, again if something changed meanwhile."""
        if self._starting:
            self._start_again = True
            return
        self._starting = True
        try:
            while self.machine is None:
                self._start_again = False
                await self._start_once()
                if not self._start_again:
                    return
        finally:
            self._starting = False

    async def _start_once(self) -> None:
        hotwire = self.cfg.cluster.hotwire.interface
        found = await links.lookup([*self.names, *([hotwire] if hotwire else [])])
        hw_info = found.pop(hotwire, None)
        self._hotwire_index = hw_info.index if hw_info else None
        if self.sync is not None and hw_info is not None:
            version = ip_interface(self.cfg.cluster.hotwire.local_address).version
            self.sync.max_payload = payload_size(hw_info.mtu, version)
        self.infos.update(found)
        missing = [m for n in self.names for m in self.port.missing(n, self.infos.get(n))]
        if not missing:
            await self.rx.prepare()
            try:
                for name in self.names:
                    self._open_link(self.infos[name])
            except OSError as exc:
                missing = [str(exc.strerror)]
                self._close_links()
        if missing:
            if missing != self.waiting:
                log(logger, "election_waiting", logging.WARNING, missing="; ".join(missing))
            self.waiting = missing
            return
        self.waiting = []
        await self._persist(force_hwm=True)  # the counter's reserve is on disk before the first advert
        self.port.start()
        c = self.cfg.cluster
        self.runner.vips.index.update({n: self.infos[n].index for n in self.names})
        self.runner.warm()
        # A starting node is not master: VIPs a crash left behind go first, before anything can
        # reconcile concurrently (the runner acts only once the machine exists).
        removed = await self.runner.vips.apply(set())
        if removed:
            log(logger, "vips_removed_at_start", vips=",".join(v.cidr for v in removed.remove))
        params = Params(tuple(self.names), high=self.cfg.node.priority == Priority.HIGH,
                        update_trigger_delay_us=round(c.update_trigger_delay_s * 1e6),
                        min_hold_us=round(c.min_hold_s * 1e6), ping_failures=c.ping_check.failures,
                        local_ips=self.port.local_ips,
                        sync_hold_us=max(1, round(c.sync.preempt_hold_s * 1e6)) if self.sync else 0,
                        sync_hold_forever=not c.sync.preempt_incomplete)
        self.machine = Machine(params, now_us(), enabled=c.enabled, maintenance=self.maintenance)
        log(logger, "election_started", links=",".join(self.names))
        for name in self.names:
            self._feed(Carrier(name, self.infos[name].carrier))
        self._start_ping()
        if self.peerlink is not None:
            self._tasks.append(supervise.start("hotwire_status", lambda: self.peerlink.run(  # type: ignore[union-attr]
                self._status, lambda: self.cfg.cluster.update_trigger_delay_s / 3), self.restarts))
        self._tasks.append(supervise.start("reconcile", self.runner.periodic, self.restarts))
        self._tasks.append(supervise.start("notify", self.notifier.serve, self.restarts))
        if self.sync is not None:
            self._tasks.append(supervise.start("conntrack_sync", self.sync.run, self.restarts))
        self._tasks.append(supervise.start("persist", self._persist_loop, self.restarts))
        self._feed(Tick())

    async def stop(self) -> None:
        """Hand over (priority 0, keep the VIPs until the peer announces itself), then remove the VIPs."""
        if self.machine is not None:
            self._feed(Shutdown())
            try:
                await asyncio.wait_for(self._done.wait(), self.cfg.cluster.update_trigger_delay_s + 0.5)
            except TimeoutError:
                log(logger, "handover_timeout", logging.WARNING)
        for task in [*self._tasks, *self._pending]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._pending, return_exceptions=True)
        if self._timer is not None:
            self._timer.cancel()
        self.port.stop()  # its last advert says priority 0 if it was still sending
        if self.machine is not None:
            await self.runner.stop()  # releases everything: services, interfaces, NAT, VIPs
        self._close_links()
        await self.rx.close()
        if self.sync is not None:
            self.sync.close()
        if self.peerlink is not None:
            self.peerlink.close()
        await self._persist()

    # -- links that come and go ------------------------------------------------------

    def _open_link(self, info: links.LinkInfo) -> None:
        loop = asyncio.get_running_loop()
        self._close_link(info.ifname)
        self.promotion[info.ifname] = keep_own_addresses(info.ifname)
        self.port.open(info, lambda inst: loop.add_reader(inst.sockets.fileno(), self._on_readable, inst))
        self.rx.attach(info.ifname, info.index, self.port.instances.get(info.ifname, []))
        self.link_problems.pop(info.ifname, None)

    def _close_link(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        for inst in self.port.instances.get(name, []):
            loop.remove_reader(inst.sockets.fileno())
        self.port.close(name)

    def _close_links(self) -> None:
        for name in list(self.port.instances):
            self._close_link(name)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.counters["event_errors"] += 1
            log(logger, "link_update_failed", logging.ERROR, error=repr(task.exception()))

    def _on_link(self, name: str, index: int | None, carrier: bool) -> None:
        if self.peerlink is not None and name == self.cfg.cluster.hotwire.interface:
            if index != self._hotwire_index:  # deleted or re-created: bound to the old index
                self._hotwire_index = index
                self.peerlink.close()  # the status loop opens it again once it can
            return
        if self.machine is None:
            self._spawn(self._try_start())
            return
        known = self.infos.get(name)
        if index is None:
            log(logger, "link_deleted", link=name)
            self._close_link(name)
            self.rx.forget(name)
            self.infos.pop(name, None)
            self.runner.vips.index.pop(name, None)
            self.runner.forget_link(name)
            self.link_problems[name] = f"interface {name} does not exist"
            self._feed(Carrier(name, False))
        elif known is None or known.index != index:
            self._spawn(self._rebuild(name))
        else:
            log(logger, "carrier", link=name, up=carrier)
            self._feed(Carrier(name, carrier))
            if self.machine is not None:
                self.port.carrier_changed(self.machine.carrier)

    async def _rebuild(self, name: str) -> None:
        """A link that appeared again, maybe with a new index: new sockets, memberships and VIP bookkeeping."""
        info = (await links.lookup([name])).get(name)
        if info is None or self.machine is None:
            return
        log(logger, "link_rebuilt", link=name, index=info.index)
        self.infos[name] = info
        self.runner.vips.index[name] = info.index
        self.runner.forget_link(name)
        self.runner.warm()
        missing = self.port.missing(name, info)
        try:
            if missing:
                raise OSError(0, "; ".join(missing))
            self._open_link(info)
        except OSError as exc:
            self._close_link(name)
            self.link_problems[name] = f"waiting for {exc.strerror}"
            log(logger, "link_not_ready", logging.WARNING, link=name, reason=exc.strerror)
        self._feed(Carrier(name, info.carrier and name not in self.link_problems))
        if self.machine is not None:
            self.port.carrier_changed(self.machine.carrier)
        self.runner.kick(announce=self._is_master())

    def _on_address(self, name: str) -> None:
        if self.machine is None:
            self._spawn(self._try_start())
        elif name in self.link_problems:
            self._spawn(self._rebuild(name))
        else:
            self.runner.kick(announce=False)

    # -- feeding the machine -----------------------------------------------------------

    def _feed(self, event: Event) -> None:
        if self.machine is None:
            return
        try:
            actions = self.machine.handle(event, now_us())
            if any(isinstance(a, Transition) and a.new == Role.MASTER for a in actions):
                self._holding_adverts = True
            for action in actions:
                self._act(action)
            if self.machine.done:
                self._done.set()
        except Exception:
            self.counters["event_errors"] += 1
            logger.exception("event_failed", extra={"fields": {"event": type(event).__name__}})
        finally:
            self._rearm()

    def _act(self, action: object) -> None:
        match action:
            case Send(priority) if self._holding_adverts:
                self._held_priority = priority
            case Send(priority):
                self._send(priority)
            case Transition(old, new, reason):
                if new != Role.MASTER:
                    self.port.quiet()
                if self.peerlink is not None:
                    # Before any VIP moves: a yield tells the master that stays to re-announce now.
                    self.peerlink.send(self._status)
                when = time.time()
                self.runner.changed(str(old), str(new), reason, when)
                if self.sync is not None:  # the runner's first step waits for writes still in flight
                    self.sync.set_role({Role.MASTER: "master", Role.BACKUP: "backup"}.get(new, "off"))
                log(logger, "role_change", old=old, new=new, reason=reason)
                self.history.append(when, str(old), str(new), reason)
                # The file is fsynced: on a thread, so the VIPs do not wait for the disk.
                self._spawn(self._save_history())
            case Announce(reason):
                log(logger, "announce", reason=reason)
                self.runner.kick(announce=True)
            case Note(reason):
                role = str(self.machine.role) if self.machine else "none"
                log(logger, "note", reason=reason)
                self.history.append(time.time(), role, role, reason)
                self._spawn(self._save_history())
            case SplitBrain(active, reason):
                log(logger, "split_brain_start" if active else "split_brain_end",
                    logging.WARNING if active else logging.INFO, reason=reason)

    def _send(self, priority: int) -> None:
        assert self.machine is not None
        self.port.send(priority, self.machine.p.update_trigger_delay_us, self.machine.advert_interval_us,
                       self.machine.carrier)

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.machine.deadline_us() if self.machine else None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline / 1e6, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.port.drain_all()  # the newest state first: what arrived while we were away
        except Exception:
            self.counters["event_errors"] += 1
            logger.exception("drain_failed")
        self._feed(Tick())

    def _on_readable(self, inst: Instance) -> None:
        try:
            self.port.drain(inst)
        except Exception:
            self.counters["event_errors"] += 1
            logger.exception("receive_failed", extra={"fields": {"link": inst.link}})

    def _on_advert(self, advert: Advert) -> None:
        self._feed(advert)

    def _on_ping(self, ok: bool, failed: str) -> None:
        self._feed(Ping(ok, failed))

    def _on_status(self, status: Status) -> None:
        self._feed(PeerStatus(Role(status.role), now_us(), status.priority))

    def _status(self, counter: int) -> Status:
        m = self.machine
        assert m is not None
        return Status(self.cfg.node.name, str(m.role), m.priority(), m.maintenance, counter, digest(self.cfg))

    def _is_master(self) -> bool:
        return self.machine is not None and self.machine.role == Role.MASTER

    def _release_adverts(self) -> None:
        self._holding_adverts = False
        held, self._held_priority = self._held_priority, None
        if held is not None and self._is_master():
            self._send(held)

    # -- persistence ------------------------------------------------------------------------

    async def _persist_loop(self) -> None:
        while True:
            await asyncio.sleep(PERSIST_EVERY_S)
            self._advance_keys()
            await self._persist()

    # -- a change of the cluster's keys (hacore.security.keys.Rotation) --------------------------------

    def rekey(self, keys: Keys, peer_has_it: bool) -> None:
        self.rotation.start(keys, peer_has_it)
        self._use_keys()

    def peer_has_keys(self) -> None:
        """A synchronize this node sent was applied: the peer has this node's keys."""
        if self.rotation.sealing_old:
            self.rotation.peer_has_new()
            self._use_keys()

    def _advance_keys(self) -> None:
        """The peer has the new keys once it is heard with them on every channel, or once its status on the
        hotwire names the configuration this node runs (a backup sends no adverts to be heard by)."""
        if self.rotation.old is None:
            return
        choices = [c for c in (self.port.verifier.keys if self.port.verifier else None,
                               self.peerlink.rx.keys if self.peerlink else None,
                               self.sync.accept if self.sync else None) if c is not None]
        peer = self.peer_fresh()
        same = peer is not None and peer.digest == digest(self.cfg)
        if (same or all(c.heard_newest for c in choices)) and self.rotation.heard_new():
            self._use_keys()

    def _use_keys(self) -> None:
        send, accept = self.rotation.sealing(), self.rotation.accepting()
        self.port.set_keys(send.vrrp, tuple(k.vrrp for k in accept))
        if self.peerlink is not None:
            self.peerlink.key = send.hotwire
            self.peerlink.rx.keys.set(tuple(k.hotwire for k in accept))
        if self.sync is not None:
            self.sync.key = send.hotwire
            self.sync.accept.set(tuple(k.hotwire for k in accept))
        log(logger, "keys", sealing="previous" if self.rotation.sealing_old else "new",
            accepting=len(accept))

    async def _persist(self, force_hwm: bool = False) -> None:
        """Counter reserve and replay state to disk, on a thread (fsync). A write that fails (a full disk)
        is reported in `cluster info` and tried again next time; it never stops the election."""
        if self.port.fast is not None:
            self.port.fast.reserve()
        hwm = self.counter.hwm if force_hwm or self._hwm_unsaved else self.counter.want_hwm()
        try:
            if hwm is not None:
                self._hwm_unsaved = True
                try:
                    await asyncio.to_thread(statefile.save, self.hwm_path, hwm)
                    self._hwm_unsaved = False
                finally:
                    # Unsaved, the mark still counts: silent adverts would hand the VIPs to the spare while
                    # this node holds them. The cost: after a restart counters follow the wall clock, so
                    # only a clock set back meanwhile could have the peer refuse them as replays.
                    if self.port.fast is not None:
                        self.port.fast.persisted(hwm)
            if self.vrrp_window.dirty or self.hotwire_window.dirty:
                state = {"vrrp": self.vrrp_window.snapshot(), "hotwire": self.hotwire_window.snapshot()}
                await asyncio.to_thread(statefile.save, self.replay_path, state)
        except OSError as exc:
            self._state_failed(exc)
        else:
            self._state_failed(None)
        finally:
            self.port.report()

    def _state_failed(self, exc: OSError | None) -> None:
        problem = f"cannot write {exc.filename or 'the state directory'}: {exc.strerror or exc}" if exc else ""
        if problem != self.state_problem:
            log(logger, "state_write", logging.ERROR if problem else logging.INFO, problem=problem or "-",
                state="degraded" if problem else "ok")
            self.state_problem = problem

    async def _save_history(self) -> None:
        try:
            await asyncio.to_thread(self.history.save)
        except OSError as exc:
            self._state_failed(exc)

    # -- commands and visibility ---------------------------------------------------------------

    def set_delay(self, seconds: float) -> None:
        self._feed(Delay(round(seconds * 1e6)))

    def set_maintenance(self, on: bool) -> None:
        self.maintenance = on
        self._feed(Maintenance(on))

    def _start_ping(self) -> None:
        pc = self.cfg.cluster.ping_check
        self._ping_task = (supervise.start("ping_check", lambda: pingcheck.run(pc, self._on_ping), self.restarts)
                           if pc.targets else None)
        if self._ping_task is not None:
            self._tasks.append(self._ping_task)

    async def reconfigure(self, new: Config) -> None:
        """Take a configuration that differs from the running one only in live settings (hacore.config.live):
        no restart, no switchover."""
        old, self.cfg = self.cfg, new
        c = new.cluster
        self.runner.cfg = new
        self.runner.effects = Effects(NftReconciler(new), IfReconciler(new), Services(new))
        self.notifier.hooks, self.notifier.timeout_s = c.notify, c.notify_timeout_s
        owned = {Vip.of(h.interface, v) for h in c.ha_interfaces for v in h.vips}
        if owned != self.runner.vips.owned:
            self.port.set_vips(new)
            for name in self.names:
                if name in self.infos and name in self.port.instances:
                    self._open_link(self.infos[name])  # the adverts carry the new addresses
            self.runner.set_vips(owned)
        if c.update_trigger_delay_s != old.cluster.update_trigger_delay_s:
            self.set_delay(c.update_trigger_delay_s)
        if c.ping_check != old.cluster.ping_check:
            if self._ping_task is not None:
                self._ping_task.cancel()
                self._tasks.remove(self._ping_task)
                await asyncio.gather(self._ping_task, return_exceptions=True)
            self._feed(Ping(True, ""))  # the old targets' verdict does not hold for the new ones
            self._start_ping()
        self.runner.kick(announce=False)

    def peer_fresh(self, max_age_s: float | None = None) -> Status | None:
        """The peer's status if it came within max_age_s (default: the delay)."""
        if self.peerlink is None:
            return None
        return self.peerlink.fresh(self.cfg.cluster.update_trigger_delay_s if max_age_s is None else max_age_s)

    def info(self) -> dict[str, Any]:
        age = self.peerlink.age_s() if self.peerlink else None
        info = election_info(self.machine, self.waiting, self.link_problems, self.port, self.runner,
                             self.peerlink, self.peer_fresh(), age, self.counters, self.restarts)
        info |= self.runner.info()
        info["notify"] = dict(self.notifier.counters)
        info["promote_secondaries"] = dict(self.promotion)
        info["key_change"] = self.rotation.describe()
        info["state_problem"] = self.state_problem
        info["held_back"] = self.machine.held_back if self.machine is not None else ""
        info["advert_rx"] = self.rx.info()
        info["sync"] = self.sync.info() if self.sync else {"role": "off", "error": "conntrack sync is switched off"}
        return info


def _replay_shape(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"vrrp", "hotwire"}
            and all(statefile.is_str_int_map(v) for v in value.values()))
