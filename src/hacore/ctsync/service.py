"""Conntrack sync for real: the master streams its kernel's conntrack events
to the spare over the hotwire, the spare writes them into its own kernel,
and the direction turns around with the roles.

Rules: the protocol (hacore.ctsync.protocol) decides, this module does the
I/O. Datagrams share the peer-status socket on UDP/3780 (their own magic),
are accepted only from the peer's hotwire address, sealed with the hotwire
key and replay-checked with the node's counters. The spare writes through
into its kernel as datagrams arrive - so a takeover finds the table in
place, with nothing to commit - on one worker thread, in order; a takeover
waits for the writes in flight (hacore.effects.takeover asks flush()) before any
VIP moves. Dumps run on a thread too, so the event loop keeps its timers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from hacore.ctsync import ctnetlink, wire
from hacore.ctsync.flows import make
from hacore.ctsync.protocol import Receiver, Sender
from hacore.ctsync.wire import FLAG_BEGIN, FLAG_END, Data, Message
from hacore.native import fastpath as _fp
from hacore.security.keys import KeyChoice
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.ctsync")
TICK_S = 0.02
EVENT_BATCH = 16384
IP_UDP = {4: 28, 6: 48}


def payload_size(mtu: int, version: int) -> int:
    """Records per datagram fill the hotwire MTU, not one byte more (no fragments)."""
    return mtu - IP_UDP[version] - wire.OVERHEAD - wire.DATA_HEAD.size


class ConntrackSync:
    def __init__(self, key: bytes, counter: CounterSource, window: ReplayWindow, peer: str,
                 send: Callable[[bytes], str], now_us: Callable[[], int], on_complete: Callable[[bool], None],
                 max_payload: int):
        self.key = key  # seals with it
        self.accept = KeyChoice(key)  # and accepts these
        self.counter = counter
        self.window = window
        self.window_key = f"sync/{peer}"
        self.send_raw = send
        self.now_us = now_us
        self.on_complete = on_complete
        self.max_payload = max_payload
        self.role = "off"
        self.sender: Sender | None = None
        self.receiver: Receiver | None = None
        self.table: Any = None  # _fastpath.FlowTable: what the backup knows / what it holds
        self.events: ctnetlink.Events | None = None
        self.writer: ctnetlink.Writer | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.writes: list[asyncio.Future[None]] = []
        self._batch: list[np.ndarray] = []  # decoded this turn of the loop, not yet handed to the writer
        self.resync_task: asyncio.Task[None] | None = None
        self.complete = False
        self.drops: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.error = ""
        self._buf = bytearray(65536)
        self._ev = make(EVENT_BATCH)
        self._out = make(8192)

    # -- roles ---------------------------------------------------------------------------

    def set_role(self, role: str) -> None:
        if role == self.role:
            return
        self._stop()
        self.role = role
        try:
            if role == "master":
                self._start_master()
            elif role == "backup":
                self._start_backup()
        except OSError as exc:  # no conntrack in this kernel, or not allowed: say so, keep the election
            self.error = f"conntrack sync unavailable: {exc}"
            log(logger, "sync_unavailable", logging.ERROR, role=role, error=exc)
            self._stop()
            self.role = "off"
        self._set_complete(False)

    def _stop(self) -> None:
        if self.resync_task is not None:
            self.resync_task.cancel()
            self.resync_task = None
        if self.events is not None:
            asyncio.get_running_loop().remove_reader(self.events.fileno())
            self.events.close()
            self.events = None
        if self.pool is not None and self.writer is not None:
            self._submit()
            # Writes still in flight finish first: a takeover's flush() waits for exactly them.
            pool, writer, pending = self.pool, self.writer, list(self.writes)
            asyncio.get_running_loop().create_task(self._retire(pool, writer, pending))
            self.pool = self.writer = None
        self.sender = self.receiver = None

    @staticmethod
    async def _retire(pool: ThreadPoolExecutor, writer: ctnetlink.Writer, pending: list[asyncio.Future[None]]) -> None:
        if pending:
            await asyncio.wait(pending)
        pool.shutdown(wait=False)
        writer.close()

    def close(self) -> None:
        self._stop()
        self.role = "off"
        self.writes = []

    def _start_master(self) -> None:
        self.table = _fp.FlowTable(65536)
        self.sender = Sender(secrets.randbits(64) or 1, self.now_us())
        self.events = ctnetlink.Events()
        self.sender.wants_resync = False  # the first resync comes from a dump, below
        self.resync_task = asyncio.create_task(self._resync_from_dump(full=True))
        log(logger, "sync_master", session=f"{self.sender.session:016x}")

    def _start_backup(self) -> None:
        self.table = _fp.FlowTable(65536)
        self.receiver = Receiver(self.now_us())
        self.writer = ctnetlink.Writer()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="hacore-ctwrite")
        self._send_all(self.receiver.tick(self.now_us()))  # ask for a resync at once
        log(logger, "sync_backup")

    # -- the master --------------------------------------------------------------------------

    async def _resync_from_dump(self, full: bool) -> None:
        """The kernel's table to the backup: whole (a new term), or as the difference from what it
        knows (after events were lost). Events wait in their socket meanwhile."""
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        try:
            flows = await asyncio.to_thread(ctnetlink.dump)
        except OSError as exc:
            self.counters["dump_failed"] += 1
            log(logger, "sync_dump_failed", logging.ERROR, error=exc, retry_s=1)
            await asyncio.sleep(1)
            self.resync_task = asyncio.create_task(self._resync_from_dump(full))
            return
        assert self.sender is not None and self.events is not None
        now = self.now_us()
        if full:
            self.table.clear()
            self.sender.begin_resync(now)
        self.table.epoch = (self.table.epoch + 1) & 0xFF
        payloads = self._encode(flows)
        gone = make(len(self.table) + 1)
        n = self.table.sweep(gone.view(np.uint8), False)
        payloads += self._encode(gone[:n])
        self._send_payloads(payloads, full)
        self.counters["dumps"] += 1
        log(logger, "sync_resync", kind="full" if full else "repair", flows=len(flows), gone=n,
            datagrams=len(payloads), took_ms=round((time.monotonic() - t0) * 1e3, 1))
        if self.events is not None and self.resync_task is asyncio.current_task():
            loop.add_reader(self.events.fileno(), self._on_events)
        self.resync_task = None
        self._on_events()  # what queued up during the dump

    def _resync_from_table(self) -> None:
        """A full resync the backup asked for: the master's table mirrors its kernel."""
        assert self.sender is not None
        self.sender.begin_resync(self.now_us())
        payloads, cursor = [], 0
        while cursor < _fp.table_capacity(self.table):
            cursor, w = _fp.ct_encode_all(self.table, cursor, self._buf, self.max_payload)
            if w:
                payloads.append(bytes(self._buf[:w]))
        self._send_payloads(payloads, True)

    def _encode(self, flows: np.ndarray) -> list[bytes]:
        out, i, view = [], 0, flows.view(np.uint8)
        while i < len(flows):
            i, w, _recs = _fp.ct_encode(view, i, len(flows), self.table, self._buf, self.max_payload)
            if w:
                out.append(bytes(self._buf[:w]))
        return out

    def _send_payloads(self, payloads: list[bytes], full: bool) -> None:
        assert self.sender is not None
        if full and not payloads:
            payloads = [b""]
        now = self.now_us()
        for k, p in enumerate(payloads):
            flags = (FLAG_BEGIN if full and k == 0 else 0) | (FLAG_END if full and k == len(payloads) - 1 else 0)
            self._send(self.sender.data(p, flags, now))

    def _on_events(self) -> None:
        if self.events is None or self.sender is None:
            return
        while True:
            try:
                n, overrun = self.events.read(self._ev)
            except OSError as exc:
                self.drops["event_error"] += 1
                log(logger, "sync_event_error", logging.ERROR, error=exc)
                return
            if n:
                self.counters["events"] += n
                self._send_payloads(self._encode(self._ev[:n]), False)
            if overrun and self.resync_task is None:
                # Events were lost in the kernel: repair now from a dump, not at some periodic sweep.
                log(logger, "sync_overrun", logging.WARNING, overruns=self.events.overruns)
                asyncio.get_running_loop().remove_reader(self.events.fileno())
                self.events.discard()
                self.resync_task = asyncio.create_task(self._resync_from_dump(full=False))
                return
            if n < len(self._ev) - ctnetlink.MAX_PER_RECV:
                return

    # -- the backup ----------------------------------------------------------------------------

    def _apply(self, ready: list[Data]) -> None:
        assert self.receiver is not None
        out, n = self._out, 0
        for d in ready:
            if d.flags & FLAG_BEGIN:
                self.table.epoch = (self.table.epoch + 1) & 0xFF
            if n + len(d.payload) // 5 + 1 > len(out):  # the most records a payload can hold
                self._write(out[:n].copy())
                n = 0
            m, unknown = _fp.ct_decode(d.payload, self.table, out.view(np.uint8), n)
            if m < 0:  # refused whole (nothing of it applied): the copy now lacks it
                self.drops[_fp.DECODE_ERRORS.get(m, "malformed")] += 1
                self._send_all(self.receiver.request_resync(self.now_us()))
                continue
            n = m
            if unknown:
                self.drops["unknown_flow"] += unknown
                self._send_all(self.receiver.request_resync(self.now_us()))
            if d.flags & FLAG_END:  # what the resync did not restate is gone on the master
                self._write(out[:n].copy())
                n = 0
                while True:
                    k = self.table.sweep(out.view(np.uint8), True)
                    if not k:
                        break
                    self._write(out[:k].copy())
        if n:
            self._write(out[:n].copy())
        self.counters["applied"] += len(ready)

    def _write(self, flows: np.ndarray) -> None:
        """Queue records for the kernel; all that one turn of the loop decoded go out as one batch
        (many requests per sendmsg, one hand-off to the writer thread)."""
        if self.pool is None or self.writer is None or not len(flows):
            return
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._submit)
        self._batch.append(flows)

    def _submit(self) -> None:
        batch, self._batch = self._batch, []
        if self.pool is None or self.writer is None or not batch:
            return
        flows = batch[0] if len(batch) == 1 else np.concatenate(batch)
        fut = asyncio.get_running_loop().run_in_executor(self.pool, self.writer.write, flows)
        self.writes.append(fut)
        fut.add_done_callback(self._written)

    def _written(self, fut: asyncio.Future[None]) -> None:
        if fut in self.writes:
            self.writes.remove(fut)
        if not fut.cancelled() and fut.exception() is not None:
            self.drops["write_failed"] += 1
            log(logger, "sync_write_failed", logging.ERROR, error=repr(fut.exception()))
        self._check_complete()

    async def flush(self, timeout_s: float) -> bool:
        """Wait until every received flow is in the kernel (a takeover asks before its VIPs move)."""
        self._submit()
        pending = list(self.writes)
        if not pending:
            return True
        done, _ = await asyncio.wait(pending, timeout=timeout_s)
        return len(done) == len(pending)

    # -- datagrams and time ----------------------------------------------------------------------

    def on_datagram(self, data: bytes) -> None:
        unsealed = self.accept.first(lambda k: wire.unseal(k, data))
        if isinstance(unsealed, str):
            self.drops[unsealed] += 1
            return
        msg, counter = unsealed
        verdict = self.window.check(self.window_key, counter, self.now_us())
        if verdict != "ok":
            self.drops[verdict] += 1
            return
        now = self.now_us()
        if self.sender is not None:
            self._send_all(self.sender.on_message(msg, now))
        elif self.receiver is not None:
            ready, replies = self.receiver.on_message(msg, now)
            if ready:
                self._apply(ready)
            self._send_all(replies)
            self._check_complete()
        else:
            self.drops["not_running"] += 1

    def _send(self, msg: Message) -> None:
        sealed = wire.seal(self.key, msg, self.counter.next(self.now_us()))
        failed = self.send_raw(sealed)
        if failed:  # the protocol repairs it: a lost datagram is asked for again
            self.counters[f"unsent_{failed}"] += 1

    def _send_all(self, msgs: list[Message]) -> None:
        for m in msgs:
            self._send(m)

    def _check_complete(self) -> None:
        self._set_complete(self.receiver is not None and self.receiver.complete and not self.writes
                           and not self._batch)

    def _set_complete(self, complete: bool) -> None:
        if complete != self.complete:
            self.complete = complete
            log(logger, "sync_complete" if complete else "sync_incomplete", flows=len(self.table or ()))
            self.on_complete(complete)

    async def run(self) -> None:
        """Keep-alives, retries and reports, and resyncs the backup asked for."""
        while True:
            await asyncio.sleep(TICK_S)
            now = self.now_us()
            if self.sender is not None:
                if self.sender.wants_resync and self.resync_task is None:
                    self._resync_from_table()
                self._send_all(self.sender.tick(now))
            elif self.receiver is not None:
                self._send_all(self.receiver.tick(now))
                self._check_complete()

    def info(self) -> dict[str, Any]:
        s, r = self.sender, self.receiver
        out: dict[str, Any] = {"role": self.role, "flows": len(self.table) if self.table is not None else 0,
                               "drops": dict(self.drops), "error": self.error, **dict(self.counters)}
        if s is not None:
            out |= {"session": f"{s.session:016x}", "next_seq": s.next, "peer_applied": s.peer_applied,
                    "peer_complete": s.peer_complete, "lag_ms": round(s.lag_us / 1e3, 2),
                    "resyncs": s.counters["resyncs"], "retransmits": s.counters["retransmits"],
                    "requests": s.counters["requests"],
                    "event_overruns": self.events.overruns if self.events else 0}
        if r is not None:
            out |= {"session": f"{r.session:016x}" if r.session else "", "complete": self.complete,
                    "applied_seq": r.expected, "gap_requests": r.counters["gap_requests"],
                    "resync_requests": r.counters["resync_requests"], "duplicates": r.counters["duplicates"],
                    "writes_in_flight": len(self.writes), "kernel": self.writer.counters() if self.writer else {}}
        return out
