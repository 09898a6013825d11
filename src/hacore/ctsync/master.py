"""The master's side of conntrack sync: its kernel's table and events,
encoded for the backup - whole when the backup asks (the table is built from
a dump at the start of a term), as the difference from what the backup knows
after events were lost, and as deltas while events flow.

Rules: I/O on ctnetlink and the fast path only; the protocol's Sender frames
and numbers every datagram; dumps (and their encoding) run on a thread, so
the event loop keeps its timers; events wait in their socket while a dump
runs.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hacore.ctsync import ctnetlink
from hacore.ctsync.flows import make
from hacore.ctsync.protocol import Sender
from hacore.ctsync.wire import Message
from hacore.native import fastpath
from hacore.support.counters import Counters
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.ctsync")
_fp: Any = fastpath  # the caller checks that it is built (hacore.has_fastpath)
EVENT_BATCH = 16384
DUMP_RETRY_S = 1.0


class Master:
    def __init__(self, now_us: Callable[[], int], send_all: Callable[[list[Message]], None], counters: Counters,
                 max_payload: Callable[[], int]):
        self.now_us = now_us
        self.send_all = send_all
        self.counters = counters
        self.max_payload = max_payload
        self.table = _fp.FlowTable(65536)
        self.sender = Sender(secrets.randbits(64) or 1, now_us())
        # The table is restated when a backup asks (one that follows this new term does, at once), never
        # unasked: right after a takeover the peer is the node just declared dead, and thousands of
        # datagrams to it would cost the new master its first second.
        self.sender.wants_resync = False
        self.events: ctnetlink.Events | None = ctnetlink.Events()
        self._buf = bytearray(65536)
        self._ev = make(EVENT_BATCH)
        self.resync_task: asyncio.Task[None] | None = asyncio.create_task(self._resync_from_dump(full=True))
        log(logger, "sync_master", session=f"{self.sender.session:016x}")

    def stop(self) -> None:
        if self.resync_task is not None:
            self.resync_task.cancel()
            self.resync_task = None
        if self.events is not None:
            asyncio.get_running_loop().remove_reader(self.events.fileno())
            self.events.close()
            self.events = None

    async def _resync_from_dump(self, full: bool) -> None:
        """The kernel's table: the whole of it into the master's table at a new term (sent if the backup
        has asked meanwhile), or to the backup as the difference from what it knows (after events were
        lost)."""
        t0 = time.monotonic()
        try:
            flows, payloads, n = await asyncio.to_thread(self._dump_into_table, full)
        except OSError as exc:
            self.counters.inc("dump_failed")
            log(logger, "sync_dump_failed", logging.ERROR, error=exc, retry_s=DUMP_RETRY_S)
            await asyncio.sleep(DUMP_RETRY_S)
            self.resync_task = asyncio.create_task(self._resync_from_dump(full))
            return
        now = self.now_us()
        sent = not full or self.sender.wants_resync
        if sent:
            self.send_all(list(self.sender.resync(payloads, now) if full else self.sender.deltas(payloads, now)))
        self.counters.inc("dumps")
        log(logger, "sync_resync", kind="full" if full else "repair", flows=flows, gone=n,
            datagrams=len(payloads) if sent else 0, took_ms=round((time.monotonic() - t0) * 1e3, 1))
        if self.events is not None and self.resync_task is asyncio.current_task():
            asyncio.get_running_loop().add_reader(self.events.fileno(), self.on_events)
        self.resync_task = None
        self.on_events()  # what queued up during the dump

    def _dump_into_table(self, full: bool) -> tuple[int, list[bytes], int]:
        """On a worker thread, while the loop keeps its timers: the kernel's table into the master's (new
        flows and changes encoded as they go in, then the ones gone swept out). Nothing else touches the
        table until it returns: events wait in their socket, and a resync asked for waits for this one.
        Returns (flows dumped, payloads, flows gone)."""
        flows = ctnetlink.dump()
        if full:
            self.table.clear()
        self.table.epoch = (self.table.epoch + 1) & 0xFF
        payloads = self._encode(flows)
        gone = make(len(self.table) + 1)
        n = self.table.sweep(gone.view(np.uint8), False)
        return len(flows), payloads + self._encode(gone[:n]), n

    def resync_from_table(self) -> None:
        """A full resync the backup asked for: the master's table mirrors its kernel."""
        payloads, cursor = [], 0
        while cursor < _fp.table_capacity(self.table):
            cursor, w = _fp.ct_encode_all(self.table, cursor, self._buf, self.max_payload())
            if w:
                payloads.append(bytes(self._buf[:w]))
        self.send_all(list(self.sender.resync(payloads, self.now_us())))

    def _encode(self, flows: np.ndarray) -> list[bytes]:
        out, i, view = [], 0, flows.view(np.uint8)
        while i < len(flows):
            i, w, _recs = _fp.ct_encode(view, i, len(flows), self.table, self._buf, self.max_payload())
            if w:
                out.append(bytes(self._buf[:w]))
        return out

    def on_events(self) -> None:
        """One batch of events a call, as the hotwire's reader drains a bounded number: the reader is
        level-triggered, so the rest comes at the loop's next turn, after its timers (the advert
        lease's renewal among them), however fast the kernel makes events."""
        if self.events is None:
            return
        try:
            n, overrun = self.events.read(self._ev)
        except OSError as exc:
            self.counters.inc("drops", reason="event_error")
            log(logger, "sync_event_error", logging.ERROR, error=exc)
            return
        if n:
            self.counters.inc("events", n)
            self.send_all(list(self.sender.deltas(self._encode(self._ev[:n]), self.now_us())))
        if overrun and self.resync_task is None:
            # Events were lost in the kernel: repair now from a dump, not at some periodic sweep.
            log(logger, "sync_overrun", logging.WARNING, overruns=self.events.overruns)
            asyncio.get_running_loop().remove_reader(self.events.fileno())
            self.events.discard()
            self.resync_task = asyncio.create_task(self._resync_from_dump(full=False))

    def tick(self, now_us: int) -> list[Message]:
        if self.sender.wants_resync and self.resync_task is None:
            self.resync_from_table()
        return self.sender.tick(now_us)

    def deadline_us(self) -> int:
        """The resync the backup asked for is due at once (unless a dump is under way); else a keep-alive."""
        return 0 if self.sender.wants_resync and self.resync_task is None else self.sender.deadline_us()

    def info(self) -> dict[str, Any]:
        s = self.sender
        return {"session": f"{s.session:016x}", "next_seq": s.next, "peer_applied": s.peer_applied,
                "peer_complete": s.peer_complete, "lag_ms": round(s.lag_us / 1e3, 2),
                "resyncs": s.counters["resyncs"], "retransmits": s.counters["retransmits"],
                "requests": s.counters["requests"], "event_overruns": self.events.overruns if self.events else 0}
