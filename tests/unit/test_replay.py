"""Counters that never repeat across crashes and clock steps, and the receiver's replay window."""

from __future__ import annotations

from hacore.security.replay import DRIFT_PPM, RESERVE_US, TOLERANCE_US, CounterSource, ReplayWindow

S = 1_000_000


def test_sender_counters_advance_with_real_time_whatever_the_wall_clock_does() -> None:
    c = CounterSource(stored_hwm=0, now_mono_us=100 * S, now_real_us=1_700_000_000 * S)
    a = c.next(100 * S)
    b = c.next(101 * S)
    assert b - a == S  # one second of monotonic time, one second of counter
    assert c.next(101 * S) == b + 1  # never equal, even at the same instant


def test_a_crash_never_reuses_a_counter() -> None:
    c = CounterSource(0, 0, 5 * S)
    stored = c.hwm  # what the daemon persisted before the first advert
    used = [c.next(t * S) for t in range(20)]
    # A crash, and the wall clock stepped back an hour: the persisted high-water mark still wins.
    after = CounterSource(stored, 0, 5 * S - 3600 * S)
    assert after.next(0) > max(used)


def test_high_water_mark_is_renewed_before_the_reserve_runs_out() -> None:
    c = CounterSource(0, 0, 0)
    first = c.hwm
    c.next(RESERVE_US // 4)
    assert c.want_hwm() is None
    c.next(RESERVE_US // 2 + 1)
    renewed = c.want_hwm()
    assert renewed is not None and renewed > first and c.last < first


def test_window_accepts_each_counter_once_and_in_order() -> None:
    w = ReplayWindow()
    assert w.check("peer", 1000, 0) == "ok"
    assert w.check("peer", 1000, 0) == "replay"
    assert w.check("peer", 999, 0) == "replay"
    assert w.check("other", 999, 0) == "ok"


def test_held_back_replays_fall_behind_real_time() -> None:
    # An attacker who forgot nothing replays a captured stream slower than it was sent.
    w = ReplayWindow()
    assert w.check("peer", 10 * S, 0) == "ok"
    assert w.check("peer", 10 * S + 10_000, TOLERANCE_US) == "ok"  # within the tolerance
    assert w.check("peer", 10 * S + 20_000, 2 * TOLERANCE_US) == "stale"


def test_genuine_counters_survive_a_day_of_clock_drift() -> None:
    w = ReplayWindow()
    rate = 1 - DRIFT_PPM / 2 / 1e6  # the sender's monotonic clock runs slow by half the budget
    for hour in range(25):
        t = hour * 3600 * S
        assert w.check("peer", 10 * S + int(t * rate), t) == "ok", hour


def test_after_a_restart_a_minute_old_capture_is_refused() -> None:
    w = ReplayWindow()
    for t in range(0, 61):
        assert w.check("peer", 10 * S + t * S, t * S) == "ok"
    restarted = ReplayWindow(w.snapshot())
    assert restarted.check("peer", 10 * S, 0) == "replay"  # the capture from a minute earlier
    assert restarted.check("peer", 10 * S + 61 * S, 61 * S) == "ok"
