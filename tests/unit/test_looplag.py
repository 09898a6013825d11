"""The loop-lateness histogram (hacore.support.looplag.Lateness)."""

from hacore.support.looplag import BUCKETS_US, Lateness


def test_samples_land_in_their_buckets_and_the_worst_is_kept() -> None:
    lag = Lateness()
    for late_us in (5, 15, 15, 900, 250_000, -3):
        lag.note(late_us)
    info = lag.info()
    assert info["samples"] == 6 and info["worst_ms"] == 250.0
    assert info["histogram"] == {"<10us": 2, "<20us": 2, "<1000us": 1, f">={BUCKETS_US[-1]}us": 1}


def test_p99_of_the_last_minute_forgets_older_samples() -> None:
    lag = Lateness()
    lag.note(90_000)
    for _ in range(1200):
        lag.note(100)
    assert lag.info()["p99_last_minute_ms"] == 0.1 and lag.info()["worst_ms"] == 90.0
