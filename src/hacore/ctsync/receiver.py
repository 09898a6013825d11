"""The backup's end of the sync protocol (hacore.ctsync.protocol): orders
datagrams, asks for what is missing, applies them to its Table with the
resync's mark and sweep, and knows when its copy is whole.

Rules: pure; times are integer microseconds passed in; the caller moves the
messages and owns the table.
"""

from __future__ import annotations

from hacore.ctsync.protocol import (
    MAX_GAPS,
    MAX_PENDING,
    REPORT_MIN_US,
    REPORT_US,
    REQUEST_RETRY_US,
    Applied,
    Table,
)
from hacore.ctsync.wire import FLAG_BEGIN, FLAG_END, Data, Keepalive, Message, Report, Request
from hacore.support.counters import Schema, Spec

RECEIVER_COUNTERS = Schema(
    "sync_receiver",
    Spec("sessions", "master terms followed"),
    Spec("skipped_to_resync", "gaps given up for a newer resync"),
    Spec("duplicates", "datagrams received twice"),
    Spec("pending_full", "out-of-order datagrams dropped: too many held"),
    Spec("gap_requests", "ranges asked for again"),
    Spec("resync_requests", "full resyncs asked for"),
    Spec("superseded", "datagrams not applied: a resync asked for and not begun restates them"),
    Spec("unexpected", "messages a backup does not expect (requests, reports)"),
)


class Receiver:
    """The backup's end: orders datagrams, asks for what is missing, knows when its copy is whole."""

    def __init__(self, now_us: int):
        self.session: int | None = None
        self.base = 0
        self.expected = 0  # the next seq to apply
        self.peer_next = 0  # the highest next seq the master has shown
        self.resynced = False  # the END of the resync at base is applied
        self.want_resync = False  # asked for one (the copy diverged): until a BEGIN arrives
        self.pending: dict[int, Data] = {}
        self.asked_us: int | None = None  # the last gap request or resync request
        self.last_report_us = now_us
        self.counters = RECEIVER_COUNTERS.new()

    @property
    def complete(self) -> bool:
        """A whole copy: the resync applied, no gap, nothing announced that is not applied."""
        return self.session is not None and self.resynced and not self.pending and self.expected >= self.peer_next

    def on_message(self, msg: Message, now_us: int) -> tuple[list[Data], list[Message]]:
        """(datagrams to apply, in this order; messages to send back)."""
        if isinstance(msg, Data):
            return self._on_data(msg, now_us)
        if isinstance(msg, Keepalive):
            self._follow(msg.session, msg.base)
            self.peer_next = max(self.peer_next, msg.next)
            return [], self._ask(now_us) + self._report(now_us, REPORT_US)
        self.counters.inc("unexpected")
        return [], []

    def _follow(self, session: int, base: int) -> None:
        """A new stream (a new master term) starts at its base; a newer resync supersedes what we miss."""
        if session != self.session:
            self.session, self.base, self.expected, self.peer_next = session, base, base, base
            self.pending.clear()
            self.resynced = False
            self.want_resync = True  # a new master restates its table when asked (its resync's BEGIN clears this)
            self.asked_us = None
            self.counters.inc("sessions")
        elif base > self.expected:
            self.counters.inc("skipped_to_resync")
            self.base, self.expected = base, base
            self.pending = {s: d for s, d in self.pending.items() if s >= base}
            self.resynced = False

    def _on_data(self, d: Data, now_us: int) -> tuple[list[Data], list[Message]]:
        self._follow(d.session, d.base)
        self.peer_next = max(self.peer_next, d.seq + 1)
        if d.seq < self.expected or d.seq in self.pending:
            self.counters.inc("duplicates")
            return [], []
        if d.seq != self.expected:
            if len(self.pending) < MAX_PENDING:
                self.pending[d.seq] = d
            else:
                self.counters.inc("pending_full")
            return [], self._ask(now_us)
        ready = [d]
        self.expected += 1
        while self.expected in self.pending:
            ready.append(self.pending.pop(self.expected))
            self.expected += 1
        applied = []
        for r in ready:
            if r.flags & FLAG_BEGIN:
                self.base, self.resynced, self.want_resync = r.seq, False, False
            if self.want_resync:  # changes to a table this copy does not have yet: the resync restates them
                self.counters.inc("superseded")
                continue
            if r.flags & FLAG_END and r.base == self.base:
                self.resynced = True
            applied.append(r)
        ready = applied
        if not self.pending and self.expected >= self.peer_next:
            self.asked_us = None  # the gap is closed
        return ready, self._ask(now_us) + self._report(now_us, REPORT_MIN_US)

    def _ask(self, now_us: int) -> list[Message]:
        if self.session is None or (not self.pending and self.expected >= self.peer_next):
            return []
        if self.asked_us is not None and now_us - self.asked_us < REQUEST_RETRY_US:
            return []
        self.asked_us = now_us
        gaps: list[Message] = []
        first = self.expected
        for seq in [*sorted(self.pending), self.peer_next]:
            if seq > first:
                gaps.append(Request(self.session, first, seq))
                if len(gaps) == MAX_GAPS:
                    break
            first = seq + 1
        self.counters.inc("gap_requests", len(gaps))
        return gaps

    def _report(self, now_us: int, every_us: int) -> list[Message]:
        if self.session is None or now_us - self.last_report_us < every_us:
            return []
        self.last_report_us = now_us
        return [Report(self.session, self.expected, self.complete)]

    def apply(self, ready: list[Data], table: Table, now_us: int) -> list[Message]:
        """Apply datagrams (in the order on_message returned them) to table, with the resync's mark and
        sweep; what cannot be applied asks for a full resync. Returns the messages to send back."""
        out: list[Message] = []
        for d in ready:
            if d.flags & FLAG_BEGIN:
                table.mark()
            applied = table.apply(d.payload)
            if applied != Applied.WHOLE:
                out += self.request_resync(now_us)
            if applied == Applied.REFUSED:
                continue
            if d.flags & FLAG_END:
                table.sweep()
        return out

    def request_resync(self, now_us: int) -> list[Message]:
        """The copy diverged (a delta for a flow it does not have): only a full resync repairs it."""
        self.resynced = False
        self.want_resync = True
        self.counters.inc("resync_requests")
        self.asked_us = now_us
        return [Request(self.session or 0, 0, 0)]

    def tick(self, now_us: int) -> list[Message]:
        if self.session is None or self.want_resync:
            # Nothing to build on yet, or a resync asked for and not begun: ask again until it comes.
            if self.asked_us is None or now_us - self.asked_us >= REQUEST_RETRY_US:
                self.asked_us = now_us
                self.counters.inc("resync_requests")
                return [Request(self.session or 0, 0, 0)]
            return []
        return self._ask(now_us) + self._report(now_us, REPORT_US)

    def deadline_us(self) -> int:
        # No report before a session (tick sends none, so its time stayed in the past and the service's
        # loop spun at full CPU until the master was heard: at real-time priority, a runaway).
        times = [self.last_report_us + REPORT_US] if self.session is not None else []
        waiting = self.session is None or self.want_resync or self.pending or self.expected < self.peer_next
        if waiting:
            times.append(0 if self.asked_us is None else self.asked_us + REQUEST_RETRY_US)
        return min(times)
