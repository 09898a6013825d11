"""Long-running background work that cannot die quietly.

Rules: a task that raises is logged with its traceback, counted and started
again after a backoff (doubling up to MAX_BACKOFF_S, reset after a long
healthy run); cancellation ends it. Nothing here knows what the work is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from hacore.support.counters import Counters, Schema, Spec
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.supervise")
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
HEALTHY_S = 30.0
COUNTERS = Schema("tasks", Spec("restarts", "background tasks started again after they failed or ended", ("task",)))


async def supervise(name: str, work: Callable[[], Awaitable[None]], restarts: Counters) -> None:
    backoff = FIRST_BACKOFF_S
    while True:
        started = time.monotonic()
        try:
            await work()
            log(logger, "task_ended", logging.WARNING, task=name, action="restarting")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("task_failed", extra={"fields": {"task": name, "action": "restarting"}})
        restarts.inc("restarts", task=name)
        if time.monotonic() - started > HEALTHY_S:
            backoff = FIRST_BACKOFF_S
        await asyncio.sleep(backoff)
        backoff = min(MAX_BACKOFF_S, backoff * 2)


def start(name: str, work: Callable[[], Awaitable[None]], restarts: Counters) -> asyncio.Task[None]:
    return asyncio.create_task(supervise(name, work, restarts), name=name)
