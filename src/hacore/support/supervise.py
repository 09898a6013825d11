"""Long-running background work that cannot die quietly.

Rules: a task that raises is logged with its traceback, counted and started
again after a backoff (doubling up to MAX_BACKOFF_S, reset after a long
healthy run); cancellation ends it. Nothing here knows what the work is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from hacore.support.logfmt import log

logger = logging.getLogger("hacore.supervise")
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
HEALTHY_S = 30.0


async def supervise(name: str, work: Callable[[], Awaitable[None]], restarts: Counter[str]) -> None:
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
        restarts[name] += 1
        if time.monotonic() - started > HEALTHY_S:
            backoff = FIRST_BACKOFF_S
        await asyncio.sleep(backoff)
        backoff = min(MAX_BACKOFF_S, backoff * 2)


def start(name: str, work: Callable[[], Awaitable[None]], restarts: Counter[str]) -> asyncio.Task[None]:
    return asyncio.create_task(supervise(name, work, restarts), name=name)
