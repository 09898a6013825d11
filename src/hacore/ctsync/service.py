"""Conntrack sync for real: the master streams its kernel's conntrack events
to the spare over the hotwire, the spare writes them into its own kernel,
and the direction turns around with the roles.

Rules: the protocol (hacore.ctsync.protocol, .receiver) decides, the
master's and the backup's sides (hacore.ctsync.master, .backup) do the I/O,
this module follows the role and moves messages. Datagrams are a channel
of the hotwire (sealed and replay-checked there). Timers come from the
protocol's deadlines: the loop sleeps until the next one, or until a
message or a role change brings it closer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from ipaddress import ip_interface
from typing import Any

from hacore import native
from hacore.config.model import Cluster
from hacore.ctsync import wire
from hacore.ctsync.backup import Backup, Helpers
from hacore.ctsync.master import Master
from hacore.ctsync.receiver import Receiver
from hacore.ctsync.wire import Message
from hacore.hotwire import envelope
from hacore.hotwire.service import Hotwire
from hacore.support.counters import Counters, Schema, Spec
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.ctsync")
IP_UDP = {4: 28, 6: 48}
COUNTERS = Schema(
    "sync",
    Spec("drops", "sync datagrams or flows dropped, by reason", ("reason",)),
    Spec("events", "conntrack events read on the master"),
    Spec("dumps", "kernel table dumps sent as a resync"),
    Spec("dump_failed", "kernel table dumps that failed (retried)"),
    Spec("applied", "data datagrams applied on the backup"),
    Spec("unsent", "datagrams the hotwire could not send, by why", ("why",)),
)


def payload_size(mtu: int, version: int) -> int:
    """Records per datagram fill the hotwire MTU, not one byte more (no fragments)."""
    return mtu - IP_UDP[version] - envelope.OVERHEAD - wire.HEAD.size - wire.DATA_HEAD.size


class ConntrackSync:
    def __init__(self, send: Callable[[bytes], str], now_us: Callable[[], int], on_complete: Callable[[bool], None],
                 max_payload: int, helpers: Helpers | None = None):
        self.send_raw = send
        self.helpers = helpers
        self.now_us = now_us
        self.on_complete = on_complete
        self.max_payload = max_payload
        self.role = "off"
        self.master: Master | None = None
        self.backup: Backup | None = None
        self.receiver: Receiver | None = None
        self.retired: list[Backup] = []  # stopped backups whose kernel writes may still be in flight
        self.complete = False
        self.counters = COUNTERS.new()
        self.error = ""
        self._wake = asyncio.Event()
        self._sleep_until_us: int | None = None

    @classmethod
    def on(cls, hotwire: Hotwire | None, c: Cluster, now_us: Callable[[], int],
           on_complete: Callable[[bool], None], helpers: Helpers | None = None) -> ConntrackSync | None:
        """Conntrack sync as a channel of the hotwire, when it is configured and can run here."""
        if not c.sync.conntrack or hotwire is None:
            return None
        if native.fastpath is None:
            log(logger, "sync_unavailable", logging.ERROR, error="hacore._fastpath is not built")
            return None
        version = ip_interface(c.hotwire.local_address).version
        sync = cls(hotwire.send, now_us, on_complete, payload_size(1500, version), helpers)
        hotwire.register(wire.MAGIC, sync.on_datagram)
        return sync

    def set_role(self, role: str) -> None:
        if role == self.role:
            return
        self._stop()
        self.role = role
        try:
            if role == "master":
                self.master = Master(self.now_us, self._send_all, self.counters, lambda: self.max_payload)
            elif role == "backup":
                self.backup = Backup(self.counters, self._check_complete, self.helpers)
                self.receiver = Receiver(self.now_us())
                self._send_all(self.receiver.tick(self.now_us()))  # ask for a resync at once
                log(logger, "sync_backup")
        except OSError as exc:  # no conntrack in this kernel, or not allowed: say so, keep the election
            self.error = f"conntrack sync unavailable: {exc}"
            log(logger, "sync_unavailable", logging.ERROR, role=role, error=exc)
            self._stop()
            self.role = "off"
        self._set_complete(False)
        self._wake.set()

    def _stop(self) -> None:
        if self.master is not None:
            self.master.stop()
        if self.backup is not None:
            self.backup.stop()
            self.retired = [b for b in self.retired if b.writes] + [self.backup]
        self.master = self.backup = self.receiver = None

    def close(self) -> None:
        self._stop()
        self.role = "off"

    def in_flight(self) -> int:
        """Kernel writes of received flows not finished yet (also of a backup that just stopped)."""
        return sum(len(b.writes) for b in [*self.retired, *([self.backup] if self.backup else [])])

    async def flush(self, timeout_s: float) -> bool:
        """Wait until every received flow is in the kernel (a takeover asks before its VIPs move)."""
        pending = [w for b in [*self.retired, *([self.backup] if self.backup else [])] for w in b.pending()]
        if not pending:
            return True
        done, _ = await asyncio.wait(pending, timeout=timeout_s)
        return len(done) == len(pending)

    # -- datagrams ---------------------------------------------------------------------------------

    def on_datagram(self, body: bytes) -> None:
        """A sync body the hotwire opened (authentic, not a replay)."""
        msg = wire.decode(body)
        if isinstance(msg, str):
            self.counters.inc("drops", reason=msg)
            return
        now = self.now_us()
        if self.master is not None:
            self._send_all(self.master.sender.on_message(msg, now))
        elif self.receiver is not None and self.backup is not None:
            ready, replies = self.receiver.on_message(msg, now)
            replies += self.receiver.apply(ready, self.backup, now)
            self.backup.done()
            self.counters.inc("applied", len(ready))
            self._send_all(replies)
            self._check_complete()
        else:
            self.counters.inc("drops", reason="not_running")
        self._maybe_wake()

    def _send_all(self, msgs: list[Message]) -> None:
        for m in msgs:
            failed = self.send_raw(wire.encode(m))
            if failed:  # the protocol repairs it: a lost datagram is asked for again
                self.counters.inc("unsent", why=failed)

    def _check_complete(self) -> None:
        b = self.backup
        self._set_complete(self.receiver is not None and self.receiver.complete and b is not None and not b.busy)

    def _set_complete(self, complete: bool) -> None:
        if complete != self.complete:
            self.complete = complete
            log(logger, "sync_complete" if complete else "sync_incomplete", flows=self._flows())
            self.on_complete(complete)

    def _flows(self) -> int:
        side = self.master or self.backup
        return len(side.table) if side is not None else 0

    # -- time ----------------------------------------------------------------------------------------

    def _deadline_us(self) -> int | None:
        if self.master is not None:
            return self.master.deadline_us()
        return self.receiver.deadline_us() if self.receiver is not None else None

    def _maybe_wake(self) -> None:
        """A message may have brought the next deadline closer than the one the loop sleeps until."""
        d = self._deadline_us()
        if d is not None and (self._sleep_until_us is None or d < self._sleep_until_us):
            self._wake.set()

    async def run(self) -> None:
        """Keep-alives, retries, reports and resyncs the backup asked for, each when the protocol says."""
        while True:
            deadline = self._deadline_us()
            self._sleep_until_us = deadline
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, (deadline - self.now_us()) / 1e6)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            now = self.now_us()
            if self.master is not None:
                self._send_all(self.master.tick(now))
            elif self.receiver is not None:
                self._send_all(self.receiver.tick(now))
                self._check_complete()

    def counter_sets(self) -> list[Counters]:
        """Every counter set in use (for metrics); a role's own come and go with it."""
        out = [self.counters]
        if self.master is not None:
            out.append(self.master.sender.counters)
        if self.receiver is not None:
            out.append(self.receiver.counters)
        if self.backup is not None:
            out.append(self.backup.writer.snapshot())
        return out

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "flows": self._flows(), "drops": self.counters.view("drops"),
                               "error": self.error, **self.counters.flat(skip=("drops",))}
        if self.master is not None:
            out |= self.master.info()
        r = self.receiver
        if r is not None and self.backup is not None:
            out |= {"session": f"{r.session:016x}" if r.session else "", "complete": self.complete,
                    "applied_seq": r.expected, "gap_requests": r.counters["gap_requests"],
                    "resync_requests": r.counters["resync_requests"], "duplicates": r.counters["duplicates"],
                    **self.backup.info()}
        return out
