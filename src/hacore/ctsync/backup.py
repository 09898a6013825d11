"""The backup's side of conntrack sync: the Table the protocol's Receiver
drives (hacore.ctsync.protocol), written through into this node's kernel as
datagrams arrive - so a takeover finds the table in place, with nothing to
commit.

Rules: decoding in the fast path, kernel writes on one worker thread, in
order; everything one turn of the loop decoded goes out as one batch; a
takeover waits for the writes in flight (flush) before any VIP moves. The
writer thread joins the spare loop's scheduling (hacore.node.spareloop).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from hacore.ctsync import ctnetlink
from hacore.ctsync.flows import make
from hacore.ctsync.protocol import Applied
from hacore.native import fastpath
from hacore.support.counters import Counters
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.ctsync")
_fp: Any = fastpath  # the caller checks that it is built (hacore.has_fastpath)


class Helpers(Protocol):
    """Threads that take the GIL for the spare share its loop's scheduling (hacore.node.spareloop)."""

    def join(self, tid: int) -> None: ...

    def leave(self, tid: int) -> None: ...


class Backup:
    def __init__(self, counters: Counters, on_written: Callable[[], None], helpers: Helpers | None = None):
        self.counters = counters
        self.on_written = on_written
        self.helpers = helpers
        self.table = _fp.FlowTable(65536)
        self.writer = ctnetlink.Writer()
        self._writer_tid = 0
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="hacore-ctwrite", initializer=self._writer_started)
        self.writes: list[asyncio.Future[None]] = []
        self._batch: list[np.ndarray] = []  # decoded this turn of the loop, not yet handed to the writer
        self._out = make(8192)
        self._n = 0  # records decoded into _out, not yet queued

    # -- the protocol's Table --------------------------------------------------------------------

    def mark(self) -> None:
        self.table.epoch = (self.table.epoch + 1) & 0xFF

    def apply(self, payload: bytes) -> Applied:
        if self._n + len(payload) // 5 + 1 > len(self._out):  # the most records a payload can hold
            self._queue()
        m, unknown = _fp.ct_decode(payload, self.table, self._out.view(np.uint8), self._n)
        if m < 0:  # refused whole: nothing of it applied
            self.counters.inc("drops", reason=_fp.DECODE_ERRORS.get(m, "malformed"))
            return Applied.REFUSED
        self._n = m
        if unknown:
            self.counters.inc("drops", unknown, reason="unknown_flow")
            return Applied.DIVERGED
        return Applied.WHOLE

    def sweep(self) -> None:
        self._queue()
        while True:
            k = self.table.sweep(self._out.view(np.uint8), True)
            if not k:
                return
            self._write(self._out[:k].copy())

    # -- the kernel ---------------------------------------------------------------------------------

    def done(self) -> None:
        """The datagrams of this turn are applied: what they decoded goes to the kernel."""
        self._queue()

    def _queue(self) -> None:
        if self._n:
            self._write(self._out[:self._n].copy())
            self._n = 0

    def _write(self, flows: np.ndarray) -> None:
        """Queue records for the kernel; all that one turn of the loop decoded go out as one batch
        (many requests per sendmsg, one hand-off to the writer thread)."""
        if not len(flows):
            return
        if not self._batch:
            asyncio.get_running_loop().call_soon(self.submit)
        self._batch.append(flows)

    def submit(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        flows = batch[0] if len(batch) == 1 else np.concatenate(batch)
        fut = asyncio.get_running_loop().run_in_executor(self.pool, self.writer.write, flows)
        self.writes.append(fut)
        fut.add_done_callback(self._written)

    def _written(self, fut: asyncio.Future[None]) -> None:
        if fut in self.writes:
            self.writes.remove(fut)
        if not fut.cancelled() and fut.exception() is not None:
            self.counters.inc("drops", reason="write_failed")
            log(logger, "sync_write_failed", logging.ERROR, error=repr(fut.exception()))
        self.on_written()

    @property
    def busy(self) -> bool:
        """Flows received that are not in the kernel yet."""
        return bool(self.writes or self._batch or self._n)

    def pending(self) -> list[asyncio.Future[None]]:
        """Every received flow handed to the writer now; the writes to wait for."""
        self._queue()
        self.submit()
        return list(self.writes)

    def stop(self) -> None:
        """Writes still in flight finish first (a takeover's flush waits for exactly them), then the
        writer closes."""
        asyncio.get_running_loop().create_task(self._retire(self.pending()))

    async def _retire(self, pending: list[asyncio.Future[None]]) -> None:
        if pending:
            await asyncio.wait(pending)
        self.pool.shutdown(wait=False)
        self.writer.close()
        if self.helpers is not None and self._writer_tid:
            self.helpers.leave(self._writer_tid)

    def _writer_started(self) -> None:
        """On the writer thread, before its first write."""
        self._writer_tid = threading.get_native_id()
        if self.helpers is not None:
            self.helpers.join(self._writer_tid)

    def info(self) -> dict[str, Any]:
        return {"writes_in_flight": len(self.writes), "kernel": self.writer.counters()}
