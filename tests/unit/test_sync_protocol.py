"""The sync protocol over a fake transport that loses, duplicates and
reorders, with a fake clock: whatever the network does, the backup ends
with exactly the master's table and says it is complete."""

from __future__ import annotations

import heapq
import itertools
import json
import random
from dataclasses import dataclass, field

import pytest

from hacore.ctsync import wire
from hacore.ctsync.protocol import REPORT_US, REQUEST_RETRY_US, Applied, Sender
from hacore.ctsync.receiver import Receiver
from hacore.ctsync.wire import FLAG_BEGIN, FLAG_END, Data, Keepalive, Report, Request
from hacore.hotwire import envelope

MS = 1000
KEY = bytes(range(32))


@dataclass
class Net:
    """Delivers messages after a random delay (so they reorder), or loses or duplicates them."""

    rng: random.Random
    loss: float = 0.0
    dup: float = 0.0
    jitter_us: int = 2 * MS
    down_until_us: int = 0  # everything sent before this is lost
    now: int = 0  # the fake clock, across runs
    queue: list[tuple[int, int, str, bytes]] = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)

    def send(self, now_us: int, to: str, msg: wire.Message) -> None:
        if now_us < self.down_until_us or self.rng.random() < self.loss:
            return
        data = envelope.seal(KEY, wire.encode(msg), next(self.seq))  # through the real codec and MAC
        for _ in range(2 if self.rng.random() < self.dup else 1):
            heapq.heappush(self.queue, (now_us + 100 + self.rng.randrange(self.jitter_us), next(self.seq), to, data))


class Master:
    """A table of flows (key -> value) streamed as ordered payloads of JSON ops."""

    def __init__(self, session: int, now_us: int):
        self.table: dict[str, int] = {}
        self.sender = Sender(session, now_us)

    def out(self, now_us: int) -> list[wire.Message]:
        if not self.sender.wants_resync:
            return []
        items = sorted(self.table.items())
        chunks = [items[i:i + 7] for i in range(0, len(items), 7)]
        return list(self.sender.resync([json.dumps([["set", k, v] for k, v in c]).encode() for c in chunks], now_us))

    def change(self, ops: list[list[object]], now_us: int) -> list[wire.Message]:
        for op in ops:
            if op[0] == "set":
                self.table[str(op[1])] = int(op[2])  # type: ignore[call-overload]
            else:
                self.table.pop(str(op[1]), None)
        return list(self.sender.deltas([json.dumps(ops).encode()], now_us))


class Backup:
    """The product's Receiver.apply() drives this dict through the resync's mark and sweep."""

    def __init__(self, now_us: int):
        self.copy: dict[str, int] = {}
        self.marked: set[str] = set()
        self.receiver = Receiver(now_us)

    def mark(self) -> None:
        self.marked = set()

    def apply(self, payload: bytes) -> Applied:
        for op, key, *v in json.loads(payload or b"[]"):  # an empty table resyncs as one empty datagram
            k = str(key)
            if op == "set":
                self.copy[k] = v[0]
                self.marked.add(k)
            else:
                self.copy.pop(k, None)
        return Applied.WHOLE

    def sweep(self) -> None:
        self.copy = {k: v for k, v in self.copy.items() if k in self.marked}


def run(net: Net, master: Master, backup: Backup, changes: int, until_us: int, rng: random.Random) -> None:
    """Run the fake clock for until_us more, making `changes` random changes on the master."""
    now = net.now
    end = now + until_us
    next_change = now
    made = 0
    while now <= end:
        if made < changes and now >= next_change:
            key = rng.randrange(40)
            op = ["del", key] if rng.random() < 0.2 else ["set", key, rng.randrange(1000)]
            for m in master.change([op], now):
                net.send(now, "backup", m)
            made += 1
            next_change = now + rng.randrange(3 * MS)
        for m in master.out(now) + master.sender.tick(now):
            net.send(now, "backup", m)
        for m in backup.receiver.tick(now):
            net.send(now, "master", m)
        while net.queue and net.queue[0][0] <= now:
            _, _, to, data = heapq.heappop(net.queue)
            unsealed = envelope.unseal(KEY, data)
            assert not isinstance(unsealed, str)
            msg = wire.decode(unsealed[0])
            assert not isinstance(msg, str)
            if to == "backup":
                ready, replies = backup.receiver.on_message(msg, now)
                for r in replies + backup.receiver.apply(ready, backup, now):
                    net.send(now, "master", r)
            else:
                for r in master.sender.on_message(msg, now):
                    net.send(now, "backup", r)
        now += 500
    net.now = now


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("loss", "dup"), [(0.0, 0.0), (0.2, 0.1), (0.5, 0.2)])
def test_the_copy_converges_whatever_the_network_does(seed: int, loss: float, dup: float) -> None:
    rng = random.Random(seed)
    net = Net(rng, loss=loss, dup=dup)
    master, backup = Master(77, 0), Backup(0)
    for k in range(25):  # a table that exists before the backup starts
        master.table[str(k)] = k
    run(net, master, backup, changes=400, until_us=3_000_000, rng=rng)
    net.loss = net.dup = 0.0  # quiet: repair finishes
    run(net, master, backup, changes=0, until_us=1_000_000, rng=rng)
    assert backup.copy == master.table
    assert backup.receiver.complete
    if loss:
        assert master.sender.counters["retransmits"] > 0 or master.sender.counters["resyncs"] > 1


def test_nothing_is_lost_when_the_start_up_handshake_is_dropped() -> None:
    rng = random.Random(1)
    net = Net(rng, down_until_us=700 * MS)  # the first resync and the first requests all vanish
    master, backup = Master(5, 0), Backup(0)
    master.table = {str(k): k for k in range(30)}
    run(net, master, backup, changes=50, until_us=2_000_000, rng=rng)
    assert backup.copy == master.table and backup.receiver.complete
    assert backup.receiver.counters["resync_requests"] >= 2  # asked again until it came


def test_a_restarted_backup_and_a_new_master_term_are_followed() -> None:
    rng = random.Random(2)
    net = Net(rng, loss=0.1)
    master, backup = Master(1, 0), Backup(0)
    run(net, master, backup, changes=100, until_us=1_000_000, rng=rng)
    backup = Backup(net.now)  # restarted: empty, no session
    run(net, master, backup, changes=100, until_us=1_000_000, rng=rng)
    table = dict(master.table)
    master = Master(2, net.now)  # a new term (the roles turned around and back): a new session
    master.table = table
    run(net, master, backup, changes=100, until_us=1_000_000, rng=rng)
    net.loss = 0.0
    run(net, master, backup, changes=0, until_us=500_000, rng=rng)
    assert backup.copy == master.table and backup.receiver.complete
    assert backup.receiver.counters["sessions"] == 2


def test_a_new_term_that_sends_its_table_only_when_asked_still_reaches_a_following_backup() -> None:
    rng = random.Random(4)
    net = Net(rng)
    master, backup = Master(1, 0), Backup(0)
    master.table = {str(k): k for k in range(30)}
    run(net, master, backup, changes=0, until_us=300_000, rng=rng)
    master = Master(2, net.now)  # the new master after a takeover: nothing pushed unasked, nothing changing
    master.table = {str(k): k for k in range(10, 50)}
    master.sender.wants_resync = False
    run(net, master, backup, changes=0, until_us=1_000_000, rng=rng)  # its keepalives name the new term
    assert backup.copy == master.table and backup.receiver.complete
    assert master.sender.counters["resyncs"] == 1 and master.sender.counters["requests"] >= 1


def test_a_gap_beyond_the_retransmit_buffer_is_repaired_by_a_resync() -> None:
    rng = random.Random(3)
    net = Net(rng)
    master, backup = Master(9, 0), Backup(0)
    master.sender.buffer_bytes = 2000  # a handful of datagrams
    run(net, master, backup, changes=20, until_us=200_000, rng=rng)
    net.down_until_us = 10**12  # the hotwire is cut while much changes
    for n in range(200):
        master.change([["set", n % 40, n]], net.now)
    net.down_until_us = 0
    run(net, master, backup, changes=0, until_us=1_000_000, rng=rng)
    assert backup.copy == master.table and backup.receiver.complete
    assert master.sender.counters["resyncs"] >= 2


def test_a_diverged_copy_asks_for_a_resync_until_one_begins() -> None:
    r = Receiver(0)
    ready, _ = r.on_message(Data(3, 1, 1, FLAG_BEGIN | FLAG_END, b"[]"), 0)
    assert len(ready) == 1 and r.complete
    assert r.request_resync(10) == [Request(3, 0, 0)]
    assert not r.complete
    assert r.tick(10 + REQUEST_RETRY_US) == [Request(3, 0, 0)]  # again, until a resync begins
    ready, _ = r.on_message(Data(3, 2, 2, FLAG_BEGIN | FLAG_END, b"[]"), 20 + REQUEST_RETRY_US)
    assert r.complete and r.tick(30 + 2 * REQUEST_RETRY_US) != [Request(3, 0, 0)]


def test_a_backup_that_has_not_heard_the_master_asks_and_then_waits() -> None:
    """Before the first session every deadline must lie ahead of the tick that just ran, or the
    service's loop, which sleeps until the deadline, spins without ever blocking."""
    r = Receiver(0)
    now = 5 * REPORT_US  # the master is not up yet
    assert r.tick(now) == [Request(0, 0, 0)]
    assert r.deadline_us() == now + REQUEST_RETRY_US
    assert r.tick(now + 1) == []  # nothing due: no request, no report
    assert r.deadline_us() == now + REQUEST_RETRY_US


def test_keepalives_reveal_loss_at_the_tail() -> None:
    r = Receiver(0)
    r.on_message(Data(4, 1, 1, FLAG_BEGIN | FLAG_END, b"[]"), 0)
    _, out = r.on_message(Keepalive(4, 4, 1), 1000)  # seq 2 and 3 were sent and lost
    assert Request(4, 2, 4) in out and not r.complete


def test_reports_give_the_master_its_lag_which_an_idle_complete_copy_reads_as_none() -> None:
    s = Sender(1, 0)
    s.begin_resync(0)
    s.data(b"", FLAG_BEGIN | FLAG_END, 1000)
    s.data(b"", 0, 2000)
    s.on_message(Report(1, 2, False), 4000)  # seq 2, sent at 2000, not applied yet
    assert s.lag_us == 2000 and not s.peer_complete
    s.on_message(Report(1, 3, True), 5000)  # all applied
    assert s.lag_us == 0 and s.peer_complete
    s.on_message(Report(1, 3, True), 60_000_000)  # a minute idle: still no lag, not the last change's age
    assert s.lag_us == 0


def test_wire_round_trip_and_refusals() -> None:
    for msg in (Data(2**64 - 1, 7, 3, FLAG_END, b"x" * 100), Keepalive(1, 2, 3), Request(1, 0, 0),
                Report(5, 6, True)):
        sealed = envelope.seal(KEY, wire.encode(msg), 42)
        assert envelope.unseal(KEY, sealed) == (wire.encode(msg), 42)
        assert wire.decode(wire.encode(msg)) == msg
        assert envelope.unseal(bytes(32), sealed) == "bad_auth"
        assert envelope.unseal(KEY, sealed[:-1]) == "bad_auth"
    assert envelope.unseal(KEY, b"HCT") == "short"
    assert wire.decode(wire.HEAD.pack(wire.MAGIC, wire.VERSION, 9)) == "bad_type"
    assert wire.decode(wire.HEAD.pack(wire.MAGIC, 2, 2) + bytes(16)) == "bad_version"
    rng = random.Random(0)
    for _ in range(2000):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        assert isinstance(envelope.unseal(KEY, junk), str)
        assert isinstance(wire.decode(junk), (str, *wire._FORMATS, Data))


def test_changes_before_the_resync_a_new_term_owes_are_not_applied_to_a_table_they_do_not_fit() -> None:
    r = Receiver(0)
    ready, _ = r.on_message(Keepalive(7, 1, 1), 0)  # a new term: its table comes when asked
    assert r.tick(0) == [Request(7, 0, 0)]
    ready, _ = r.on_message(Data(7, 1, 1, 0, b"delta"), 10)  # a change made before the resync began
    assert ready == [] and r.counters["superseded"] == 1
    ready, _ = r.on_message(Data(7, 2, 2, FLAG_BEGIN | FLAG_END, b"[]"), 20)
    assert [d.seq for d in ready] == [2] and r.complete
