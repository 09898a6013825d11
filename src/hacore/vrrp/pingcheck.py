"""Ping checks (seed, "Fallback in a cluster"): is the world reachable from
this node? One round every interval; the machine decides what failures mean.

Rules: I/O only. A check that cannot run (no ping binary, no permission)
counts as failed and is logged: a check that cannot fail would keep a node
master that can no longer reach anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from hacore.config.model import PingCheck
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.ping")
PING = "ping"


async def _one(target: str, timeout_s: float) -> tuple[bool, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            PING, "-n", "-q", "-c", "1", "-W", f"{timeout_s:g}", target,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    except OSError as exc:
        return False, f"cannot run {PING}: {exc.strerror}"
    return await proc.wait() == 0, ""


async def run(pc: PingCheck, report: Callable[[bool, str], None]) -> None:
    """Until cancelled: report(ok, first failed target) once per round."""
    timeout_s = max(0.2, pc.interval_s * 0.8)
    last_error = ""
    while True:
        started = time.monotonic()
        ok, failed = False, ""
        for target in pc.targets:
            up, error = await _one(target, timeout_s)
            if error and error != last_error:
                log(logger, "ping_check_broken", logging.ERROR, error=error, effect="counts as failed")
            last_error = error or last_error
            ok = ok or up
            failed = failed or ("" if up else target)
        report(ok, failed)
        await asyncio.sleep(max(0.0, pc.interval_s - (time.monotonic() - started)))
