"""User notify hooks, keepalived-style: each executable runs after a role
change as `HOOK <new state> <reason>`, with HACORE_NODE, HACORE_OLD_STATE,
HACORE_STATE and HACORE_REASON in its environment.

Rules: hooks run after the takeover steps, one change at a time in order
(a hook sees the states as they happened), each bounded by the timeout and
killed after it; a hook never holds, delays or undoes a takeover, and its
failure is logged and counted, nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import os

from hacore.effects.proc import run
from hacore.support.counters import Schema, Spec
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.notify")
QUEUE_MAX = 64  # changes waiting for hooks; beyond this the oldest is dropped (and counted)
COUNTERS = Schema(
    "notify",
    Spec("ran", "notify hooks run"),
    Spec("failed", "notify hooks that failed or timed out"),
    Spec("dropped", "role changes not told to the hooks: the queue was full"),
)


class Notifier:
    def __init__(self, hooks: tuple[str, ...], timeout_s: float, node: str):
        self.hooks = hooks
        self.timeout_s = timeout_s
        self.node = node
        self.counters = COUNTERS.new()
        self._queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue(QUEUE_MAX)

    def notify(self, old: str, new: str, reason: str) -> None:
        if not self.hooks:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.counters.inc("dropped")
        self._queue.put_nowait((old, new, reason))

    async def serve(self) -> None:
        while True:
            old, new, reason = await self._queue.get()
            for hook in self.hooks:
                await self._one(hook, old, new, reason)

    async def _one(self, hook: str, old: str, new: str, reason: str) -> None:
        env = {"HACORE_NODE": self.node, "HACORE_OLD_STATE": old, "HACORE_STATE": new, "HACORE_REASON": reason}
        rc, err = await run([hook, new, reason], self.timeout_s, env=os.environ | env)
        self.counters.inc("ran")
        if rc:
            self.counters.inc("failed")
            log(logger, "notify_failed", logging.WARNING, hook=hook, state=new, rc=rc, error=err)
        else:
            log(logger, "notify", hook=hook, state=new)
