"""The sync protocol, sans-I/O: the master's Sender and the backup's Receiver.

The stream is ordered by sequence number within a session (one per master
term). Its state is built by full resyncs (a run of datagrams from BEGIN
to END restating the whole table) and the deltas after them; every DATA
carries `base`, the seq at which the resync it builds on began, so a
backup that joins late, or missed the BEGIN, knows where to start.

Loss repair is by NACK, not by an acknowledged window. The hotwire is a
dedicated cable where loss is rare; with NACK the master streams at line
rate and keeps no per-datagram acknowledgement state, and the one side
that can see a gap - the backup - asks for exactly the range it misses,
again every REQUEST_RETRY_US while the gap lasts. Loss at the tail of a
burst shows through the master's keep-alives, which carry the next seq.
What the master no longer holds in its retransmit buffer, a datagram that
cannot be applied, or a backup with no session yet is repaired by a full
resync; requests for one are retried until a resync arrives, so no loss in
the start-up handshake can leave the backup without a table. The backup's
reports give the master the replication lag.

Rules: pure; times are integer microseconds passed in; the caller moves
the messages and applies the payloads (in the order returned).
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from hacore.ctsync.wire import FLAG_BEGIN, FLAG_END, Data, Keepalive, Message, Report, Request

KEEPALIVE_US = 100_000
REQUEST_RETRY_US = 100_000
REPORT_US = 100_000
REPORT_MIN_US = 10_000  # reports after applied data, at most this often
RESYNC_GUARD_US = 1_000_000  # a resync under way is not restarted by a backup that has not seen it yet
BUFFER_BYTES = 64 << 20  # retransmit buffer of the master
RETX_BURST = 2048  # datagrams resent per request
REPLAY_LIMIT = 4096  # a joining backup missing more than this gets a resync, not the history
MAX_PENDING = 16384  # out-of-order datagrams the backup holds while it waits for a gap
MAX_GAPS = 64  # ranges asked for at once


class Sender:
    """The master's end: numbers, buffers and resends datagrams; says when a resync is due."""

    def __init__(self, session: int, now_us: int, buffer_bytes: int = BUFFER_BYTES):
        self.session = session
        self.next = 1
        self.base = 1
        self.buffer: OrderedDict[int, tuple[Data, int]] = OrderedDict()  # seq -> (datagram, first sent)
        self.buffer_bytes = buffer_bytes
        self.buffered = 0
        self.last_sent_us = now_us
        self.resync_started_us: int | None = None
        self.wants_resync = True  # a new term starts with the whole table
        self.peer_applied = 0
        self.peer_complete = False
        self.lag_us = 0
        self.counters: Counter[str] = Counter()

    def begin_resync(self, now_us: int) -> None:
        """The caller is about to send the whole table: BEGIN on the first datagram, END on the last."""
        self.base = self.next
        self.resync_started_us = now_us
        self.wants_resync = False
        self.counters["resyncs"] += 1

    def data(self, payload: bytes, flags: int, now_us: int) -> Data:
        d = Data(self.session, self.next, self.base, flags, payload)
        self.next += 1
        self.buffer[d.seq] = (d, now_us)
        self.buffered += len(payload) + 32
        while self.buffered > self.buffer_bytes:
            _, (old, _at) = self.buffer.popitem(last=False)
            self.buffered -= len(old.payload) + 32
        self.last_sent_us = now_us
        self.counters["datagrams"] += 1
        return d

    def on_message(self, msg: Message, now_us: int) -> list[Message]:
        if isinstance(msg, Report):
            if msg.session == self.session:
                self.peer_applied = max(self.peer_applied, msg.applied)
                self.peer_complete = msg.complete
                sent = self.buffer.get(msg.applied - 1)
                if sent is not None:
                    self.lag_us = now_us - sent[1]
            return []
        if not isinstance(msg, Request):
            self.counters["unexpected"] += 1
            return []
        self.counters["requests"] += 1
        if msg.resync or msg.session != self.session:
            self._resync_wanted(now_us)
            return []
        first, end = max(msg.first, 1), min(msg.end, self.next)
        if first < self.base and end > self.base:
            first = self.base  # what came before the latest resync is superseded by it
        if first >= end:
            return []
        if first not in self.buffer or (first <= self.base and self.next - first > REPLAY_LIMIT):
            self._resync_wanted(now_us)  # gone from the buffer, or cheaper as a fresh table
            return []
        out: list[Message] = []
        for seq in range(first, min(end, first + RETX_BURST)):
            sent = self.buffer.get(seq)
            if sent is None:
                break
            out.append(sent[0])
        self.counters["retransmits"] += len(out)
        if out:
            self.last_sent_us = now_us
        return out

    def _resync_wanted(self, now_us: int) -> None:
        started = self.resync_started_us
        if started is not None and now_us - started < RESYNC_GUARD_US:
            self.counters["resync_guarded"] += 1  # the one under way will reach the backup
            return
        self.wants_resync = True

    def tick(self, now_us: int) -> list[Message]:
        if now_us - self.last_sent_us < KEEPALIVE_US:
            return []
        self.last_sent_us = now_us
        return [Keepalive(self.session, self.next, self.base)]

    def deadline_us(self) -> int:
        return self.last_sent_us + KEEPALIVE_US


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
        self.counters: Counter[str] = Counter()

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
        self.counters["unexpected"] += 1
        return [], []

    def _follow(self, session: int, base: int) -> None:
        """A new stream (a new master term) starts at its base; a newer resync supersedes what we miss."""
        if session != self.session:
            self.session, self.base, self.expected, self.peer_next = session, base, base, base
            self.pending.clear()
            self.resynced = False
            self.asked_us = None
            self.counters["sessions"] += 1
        elif base > self.expected:
            self.counters["skipped_to_resync"] += 1
            self.base, self.expected = base, base
            self.pending = {s: d for s, d in self.pending.items() if s >= base}
            self.resynced = False

    def _on_data(self, d: Data, now_us: int) -> tuple[list[Data], list[Message]]:
        self._follow(d.session, d.base)
        self.peer_next = max(self.peer_next, d.seq + 1)
        if d.seq < self.expected or d.seq in self.pending:
            self.counters["duplicates"] += 1
            return [], []
        if d.seq != self.expected:
            if len(self.pending) < MAX_PENDING:
                self.pending[d.seq] = d
            else:
                self.counters["pending_full"] += 1
            return [], self._ask(now_us)
        ready = [d]
        self.expected += 1
        while self.expected in self.pending:
            ready.append(self.pending.pop(self.expected))
            self.expected += 1
        for r in ready:
            if r.flags & FLAG_BEGIN:
                self.base, self.resynced, self.want_resync = r.seq, False, False
            if r.flags & FLAG_END and r.base == self.base:
                self.resynced = True
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
        self.counters["gap_requests"] += len(gaps)
        return gaps

    def _report(self, now_us: int, every_us: int) -> list[Message]:
        if self.session is None or now_us - self.last_report_us < every_us:
            return []
        self.last_report_us = now_us
        return [Report(self.session, self.expected, self.complete)]

    def request_resync(self, now_us: int) -> list[Message]:
        """The copy diverged (a delta for a flow it does not have): only a full resync repairs it."""
        self.resynced = False
        self.want_resync = True
        self.counters["resync_requests"] += 1
        self.asked_us = now_us
        return [Request(self.session or 0, 0, 0)]

    def tick(self, now_us: int) -> list[Message]:
        if self.session is None or self.want_resync:
            # Nothing to build on yet, or a resync asked for and not begun: ask again until it comes.
            if self.asked_us is None or now_us - self.asked_us >= REQUEST_RETRY_US:
                self.asked_us = now_us
                self.counters["resync_requests"] += 1
                return [Request(self.session or 0, 0, 0)]
            return []
        return self._ask(now_us) + self._report(now_us, REPORT_US)

    def deadline_us(self) -> int:
        times = [self.last_report_us + REPORT_US]
        waiting = self.session is None or self.want_resync or self.pending or self.expected < self.peer_next
        if waiting:
            times.append(0 if self.asked_us is None else self.asked_us + REQUEST_RETRY_US)
        return min(times)
