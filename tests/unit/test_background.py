"""Background work that cannot die quietly: supervised tasks restart, a ping check that cannot run fails."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hacore.config.model import PingCheck
from hacore.support import supervise
from hacore.support.counters import Counters
from hacore.vrrp import pingcheck


def test_a_task_that_dies_is_logged_counted_and_restarted(monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(supervise, "FIRST_BACKOFF_S", 0.001)
    runs: list[int] = []

    async def work() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError(f"boom {len(runs)}")
        await asyncio.Event().wait()  # the third run stays healthy

    async def scenario() -> Counters:
        restarts = supervise.COUNTERS.new()
        task = supervise.start("watch", work, restarts)
        while len(runs) < 3:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return restarts

    with caplog.at_level(logging.ERROR):
        restarts = asyncio.run(scenario())
    assert restarts.view("restarts") == {"watch": 2}
    failures = [r for r in caplog.records if r.getMessage() == "task_failed"]
    assert len(failures) == 2 and all(r.exc_info for r in failures)  # with the traceback
    assert "boom 1" in str(failures[0].exc_info[1])


def test_a_missing_ping_binary_makes_the_check_fail_not_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pingcheck, "PING", "/nonexistent/ping")
    reports: list[tuple[bool, str]] = []

    async def scenario() -> None:
        task = asyncio.create_task(pingcheck.run(PingCheck(targets=("192.0.2.1",), interval_s=0.01), lambda ok, t:
                                                 reports.append((ok, t))))
        while len(reports) < 2:
            await asyncio.sleep(0.001)
        task.cancel()

    asyncio.run(scenario())
    assert reports[:2] == [(False, "192.0.2.1"), (False, "192.0.2.1")]
