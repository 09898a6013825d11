"""Runs the election machine for real: owns the machine and its timer, the
advert port (VRRP on every HA link), the receive filter, the ping checks
and the HA links as netlink reports them; tells its Listener (the node's
composition root) what the machine decided.

Rules: the machine decides; this module does the I/O. Sockets are drained
before the machine decides on anything but an advert (a timer, the sync
state, the hotwire), so after a stall the newest state wins. An error in
handling one event is logged and counted and never leaves the timer
unarmed. The election waits, instead of failing, until every HA interface
and its address exist, and follows links that are deleted and re-created.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from hacore.config.model import AuthMode, Config, Priority
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.support import links, supervise
from hacore.support.counters import Counters, Schema, Spec
from hacore.support.deadline import Deadline
from hacore.support.logfmt import log
from hacore.vrrp import pingcheck
from hacore.vrrp.halinks import HaLinks
from hacore.vrrp.listener import Listener
from hacore.vrrp.machine import (
    Advert,
    Announce,
    Carrier,
    Event,
    Machine,
    Note,
    Params,
    Ping,
    Refused,
    Role,
    Send,
    Shutdown,
    SplitBrain,
    Tick,
    Transition,
)
from hacore.vrrp.port import AdvertPort
from hacore.vrrp.rxfilter import ReceiveFilter
from hacore.vrrp.sockets import Instance

logger = logging.getLogger("hacore.election")
COUNTERS = Schema("election_driver", Spec("event_errors", "events, drains or link updates that failed (a bug)"))


def now_us() -> int:
    return time.monotonic_ns() // 1000


class Election:
    def __init__(self, cfg: Config, key: bytes, counter: CounterSource, window: ReplayWindow, maintenance: bool,
                 syncs: bool, listener: Listener, restarts: Counters):
        self.cfg = cfg
        self.maintenance = maintenance
        self.syncs = syncs
        self.listener = listener
        self.restarts = restarts
        self.names = [h.interface for h in cfg.cluster.ha_interfaces]
        self.port = AdvertPort(cfg, key, counter if cfg.cluster.auth == AuthMode.HMAC else None, window,
                               self.feed, now_us)
        self.port.on_refused = lambda link, arrival_us: self.feed(Refused(link, arrival_us))
        self.rx = ReceiveFilter(cfg, self.port.version, self._spawn)
        self.links = HaLinks(self.names, self.port, self.rx, self._on_readable)
        self.machine: Machine | None = None
        self._queue: deque[Event] = deque()  # events fed while one is being handled
        self._feeding = self._draining = False
        self.waiting: list[str] = []  # what must exist before the election can start
        self.counters = COUNTERS.new()
        self._starting = self._start_again = False  # an attempt under way: events ask for another, not a second
        self._timer: Deadline | None = None  # the machine's next deadline, from the start to the stop
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._ping_task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    def is_master(self) -> bool:
        return self.machine is not None and self.machine.role == Role.MASTER

    # -- start and stop ------------------------------------------------------------

    async def start(self, also_watch: set[str]) -> None:
        self._tasks.append(supervise.start("netlink_watch", lambda: links.watch(
            set(self.names) | also_watch, self._on_link, self._on_address), self.restarts))
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
        missing = await self.links.open_all()
        if missing:
            if missing != self.waiting:
                log(logger, "election_waiting", logging.WARNING, missing="; ".join(missing))
            self.waiting = missing
            return
        self.waiting = []
        await self.listener.before_first_advert()
        self.port.start()
        c = self.cfg.cluster
        params = Params(tuple(self.names), high=self.cfg.node.priority == Priority.HIGH,
                        update_trigger_delay_us=round(c.update_trigger_delay_s * 1e6),
                        min_hold_us=round(c.min_hold_s * 1e6), ping_failures=c.ping_check.failures,
                        local_ips=self.port.local_ips,
                        sync_hold_us=max(1, round(c.sync.preempt_hold_s * 1e6)) if self.syncs else 0,
                        sync_hold_forever=not c.sync.preempt_incomplete)
        self.machine = Machine(params, now_us(), enabled=c.enabled, maintenance=self.maintenance)
        self._timer = Deadline(asyncio.get_running_loop(), lambda: self.feed(Tick()))
        log(logger, "election_started", links=",".join(self.names))
        for name in self.names:
            self.feed(Carrier(name, self.links.infos[name].carrier))
        self.start_ping()
        self.listener.started()
        self.feed(Tick())

    async def hand_over(self) -> None:
        """Priority 0; keep the VIPs until the peer announces itself, at most about the delay."""
        if self.machine is None:
            return
        self.feed(Shutdown())
        try:
            await asyncio.wait_for(self.done.wait(), self.cfg.cluster.update_trigger_delay_s + 0.5)
        except TimeoutError:
            log(logger, "handover_timeout", logging.WARNING)

    async def stop(self) -> None:
        """Background work ends, the timer too; the sender thread's last advert says priority 0."""
        for task in [*self._tasks, *self._pending]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._pending, return_exceptions=True)
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self.port.stop()

    async def close(self) -> None:
        await self.links.close_filter()

    def start_ping(self) -> None:
        if self._ping_task is not None:
            self._ping_task.cancel()
            self._tasks.remove(self._ping_task)
            self._ping_task = None
        pc = self.cfg.cluster.ping_check
        if pc.targets:
            self._ping_task = supervise.start("ping_check", lambda: pingcheck.run(
                pc, lambda ok, failed: self.feed(Ping(ok, failed))), self.restarts)
            self._tasks.append(self._ping_task)

    # -- links that come and go ------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.counters.inc("event_errors")
            log(logger, "link_update_failed", logging.ERROR, error=repr(task.exception()))

    def _on_link(self, name: str, index: int | None, carrier: bool) -> None:
        if name not in self.names:
            self.listener.other_link(name, index)
        elif self.machine is None:
            self._spawn(self._try_start())
        elif index is None:
            self.links.deleted(name)
            self.listener.link_changed(name, None)
            self.feed(Carrier(name, False))
        elif (known := self.links.infos.get(name)) is None or known.index != index or name in self.links.problems:
            self._spawn(self._rebuild(name))
        else:
            log(logger, "carrier", link=name, up=carrier)
            self.feed(Carrier(name, carrier))
            self.port.carrier_changed(self.machine.carrier)

    async def _rebuild(self, name: str) -> None:
        info = await self.links.rebuild(name)
        if info is None or self.machine is None:
            return
        self.listener.link_changed(name, info)
        self.feed(Carrier(name, info.carrier and name not in self.links.problems))
        self.port.carrier_changed(self.machine.carrier)

    def _on_address(self, name: str) -> None:
        if self.machine is None:
            self._spawn(self._try_start())
        elif name in self.links.problems:
            self._spawn(self._rebuild(name))
        else:
            self.listener.addresses_changed()

    def feed(self, event: Event) -> None:
        """One event to the machine. One fed by an action of the event in hand (a role change flipping the
        sync state) waits until those actions are done: inside them it could turn the machine around
        mid-change. Any other event is decided on the newest adverts: those waiting are drained first."""
        if self.machine is None:
            return
        if self._draining and isinstance(event, Advert | Refused):
            self._handle(event, now_us())  # the adverts that waited, ahead of the event they were drained for
            return
        self._queue.append(event)
        if self._feeding:
            return
        self._feeding = True
        try:
            while self._queue:
                event = self._queue.popleft()
                at = now_us()  # decided as of before the drain: no stall after it may age the newest advert
                if not isinstance(event, Advert | Refused):
                    self._drain_all()
                self._handle(event, at)
        finally:
            self._feeding = False
            self._rearm()

    def _handle(self, event: Event, at_us: int) -> None:
        if self.machine is None:
            return
        try:
            for action in self.machine.handle(event, at_us):
                self._act(action)
            if self.machine.done:
                self.done.set()
        except Exception:
            self.counters.inc("event_errors")
            logger.exception("event_failed", extra={"fields": {"event": type(event).__name__}})

    def _act(self, action: object) -> None:
        m = self.machine
        assert m is not None
        match action:
            case Send(priority):
                self.port.send(priority, m.p.update_trigger_delay_us, m.advert_interval_us, m.carrier)
            case Transition(old, new, reason):
                if new != Role.MASTER:
                    self.port.quiet()
                try:  # a takeover's first steps run in this call: the line (0.08 ms) waits, but is written
                    self.listener.role_changed(old, new, reason)
                finally:
                    log(logger, "role_change", old=old, new=new, reason=reason)
            case Announce(reason):
                log(logger, "announce", reason=reason)
                self.listener.announce()
            case Note(reason):
                log(logger, "note", reason=reason)
                self.listener.note(m.role, reason)
            case SplitBrain(active, reason):
                log(logger, "split_brain_start" if active else "split_brain_end",
                    logging.WARNING if active else logging.INFO, reason=reason)
                self.listener.note(m.role, reason)  # an episode in the history, beside the role changes

    def _rearm(self) -> None:
        """A timerfd, not call_at: the loop's timers fire up to 1 ms late (hacore.support.deadline). An event
        fed before the start or after the stop (a hotwire status) arms nothing."""
        deadline = self.machine.deadline_us() if self.machine else None
        if self._timer is not None and deadline is not None:
            self._timer.arm(deadline)
        elif self._timer is not None:
            self._timer.disarm()

    def _drain_all(self) -> None:
        self._draining = True  # the newest state first: what arrived while we were away
        try:
            self.port.drain_all()
        except Exception:
            self.counters.inc("event_errors")
            logger.exception("drain_failed")
        finally:
            self._draining = False

    def _on_readable(self, inst: Instance) -> None:
        try:
            self.port.drain(inst)
        except Exception:
            self.counters.inc("event_errors")
            logger.exception("receive_failed", extra={"fields": {"link": inst.link}})
