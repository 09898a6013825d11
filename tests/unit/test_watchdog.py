"""The watchdog's judgement of the advert sender, and systemd's settings read from the environment."""

from __future__ import annotations

import os

import pytest

from hacore.node import watchdog


def test_a_sending_sender_that_stops_sending_is_stalled_after_three_periods() -> None:
    p = watchdog.SenderProgress()
    assert not p.stalled(True, 10, 0.5, 100.0)
    assert not p.stalled(True, 11, 0.5, 100.4)  # progress
    assert not p.stalled(True, 11, 0.5, 101.9)  # 1.5 s = 3 periods: not yet
    assert p.stalled(True, 11, 0.5, 102.0)
    assert not p.stalled(True, 12, 0.5, 102.1)  # it sends again


def test_a_backup_that_sends_nothing_is_not_stalled() -> None:
    p = watchdog.SenderProgress()
    assert not p.stalled(False, 0, 0.5, 0.0)
    assert not p.stalled(False, 0, 0.5, 1000.0)


@pytest.mark.parametrize(("usec", "pid", "want"), [
    ("10000000", None, 5.0), ("10000000", "self", 5.0), ("10000000", "1", None), ("0", None, None),
    ("", None, None), ("ten", None, None)])
def test_the_ping_interval_is_half_of_systemds_timeout_for_this_process(
        monkeypatch: pytest.MonkeyPatch, usec: str, pid: str | None, want: float | None) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)
    assert watchdog.interval_s() == want


def test_a_master_whose_sender_thread_died_or_went_silent_is_unhealthy() -> None:
    from types import SimpleNamespace

    from hacore.vrrp.machine import Role

    master = SimpleNamespace(role=Role.MASTER, advert_interval_us=500_000)
    p = watchdog.SenderProgress()
    assert p.judge(master, {"kind": "thread", "running": False, "sent": 3}, 0.0) == \
        "the advert sender thread is not running"  # type: ignore[arg-type]
    assert p.judge(master, {"kind": "thread", "running": True, "sending": True, "sent": 4}, 1.0) == ""  # type: ignore[arg-type]
    assert "no advert sent" in p.judge(master, {"kind": "thread", "running": True, "sending": True, "sent": 4},
                                       2.6)  # type: ignore[arg-type]
    backup = SimpleNamespace(role=Role.BACKUP, advert_interval_us=500_000)
    assert p.judge(backup, {"kind": "thread", "running": True, "sending": False, "sent": 4}, 9.0) == ""  # type: ignore[arg-type]
