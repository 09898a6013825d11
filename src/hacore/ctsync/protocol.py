"""The sync protocol, sans-I/O: the master's Sender here, the backup's Receiver
in hacore.ctsync.receiver.

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

Framing is the protocol's too: Sender.resync() marks the run of a full
resync (BEGIN on its first datagram, END on its last), and Receiver.apply()
drives the caller's Table through it: a new mark at BEGIN, every payload in
order, and a sweep at END of every flow the resync did not restate.

Rules: pure; times are integer microseconds passed in; the caller moves the
messages and owns the table (its storage and its kernel writes);
deadline_us() says when tick() has work.
"""

from __future__ import annotations

from collections import OrderedDict
from enum import Enum
from typing import Protocol

from hacore.ctsync.wire import FLAG_BEGIN, FLAG_END, Data, Keepalive, Message, Report, Request
from hacore.support.counters import Schema, Spec

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


SENDER_COUNTERS = Schema(
    "sync_sender",
    Spec("datagrams", "data datagrams sent (first transmissions)"),
    Spec("resyncs", "full resyncs begun"),
    Spec("requests", "gap or resync requests from the backup"),
    Spec("retransmits", "datagrams sent again on request"),
    Spec("resync_guarded", "resync requests ignored while one under way reaches the backup"),
    Spec("unexpected", "messages a master does not expect (data, keep-alives)"),
)
class Applied(Enum):
    """What a Table made of one payload."""

    WHOLE = "whole"
    DIVERGED = "diverged"  # applied, but it named flows the copy lacks: only a full resync repairs that
    REFUSED = "refused"  # nothing of it applied (malformed): the copy now lacks it


class Table(Protocol):
    """The backup's copy, as the protocol drives it (the product's: the fast path's flow table and the
    kernel; a test's: a dict)."""

    def mark(self) -> None:
        """A resync begins: flows restated from here on carry a new mark."""

    def apply(self, payload: bytes) -> Applied:
        """One datagram's records, in order."""

    def sweep(self) -> None:
        """The resync is whole: every flow without the newest mark is gone on the master."""


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
        self.counters = SENDER_COUNTERS.new()

    def begin_resync(self, now_us: int) -> None:
        """The caller is about to send the whole table: BEGIN on the first datagram, END on the last."""
        self.base = self.next
        self.resync_started_us = now_us
        self.wants_resync = False
        self.counters.inc("resyncs")

    def data(self, payload: bytes, flags: int, now_us: int) -> Data:
        d = Data(self.session, self.next, self.base, flags, payload)
        self.next += 1
        self.buffer[d.seq] = (d, now_us)
        self.buffered += len(payload) + 32
        while self.buffered > self.buffer_bytes:
            _, (old, _at) = self.buffer.popitem(last=False)
            self.buffered -= len(old.payload) + 32
        self.last_sent_us = now_us
        self.counters.inc("datagrams")
        return d

    def resync(self, payloads: list[bytes], now_us: int) -> list[Data]:
        """The whole table, as datagrams: BEGIN on the first, END on the last (an empty table: one empty
        datagram that is both)."""
        self.begin_resync(now_us)
        payloads = payloads or [b""]
        last = len(payloads) - 1
        return [self.data(p, (FLAG_BEGIN if k == 0 else 0) | (FLAG_END if k == last else 0), now_us)
                for k, p in enumerate(payloads)]

    def deltas(self, payloads: list[bytes], now_us: int) -> list[Data]:
        """Changes since the table the backup has, as datagrams."""
        return [self.data(p, 0, now_us) for p in payloads]

    def on_message(self, msg: Message, now_us: int) -> list[Message]:
        if isinstance(msg, Report):
            if msg.session == self.session:
                self.peer_applied = max(self.peer_applied, msg.applied)
                self.peer_complete = msg.complete
                # Lag: how long the oldest change the backup has not applied yet has waited; none
                # outstanding is no lag (an idle, complete copy reads 0, not the age of the last change).
                # (Gone from the buffer: the oldest one still held, a lower bound.)
                waiting = self.buffer.get(self.peer_applied) or next(iter(self.buffer.values()), None)
                self.lag_us = now_us - waiting[1] if waiting is not None and self.peer_applied < self.next else 0
            return []
        if not isinstance(msg, Request):
            self.counters.inc("unexpected")
            return []
        self.counters.inc("requests")
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
        self.counters.inc("retransmits", len(out))
        if out:
            self.last_sent_us = now_us
        return out

    def _resync_wanted(self, now_us: int) -> None:
        started = self.resync_started_us
        if started is not None and now_us - started < RESYNC_GUARD_US:
            self.counters.inc("resync_guarded")  # the one under way will reach the backup
            return
        self.wants_resync = True

    def tick(self, now_us: int) -> list[Message]:
        if now_us - self.last_sent_us < KEEPALIVE_US:
            return []
        self.last_sent_us = now_us
        return [Keepalive(self.session, self.next, self.base)]

    def deadline_us(self) -> int:
        return self.last_sent_us + KEEPALIVE_US
