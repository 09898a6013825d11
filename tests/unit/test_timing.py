"""Every advert-timing formula, in one module, against the numbers the README and the seed promise."""

from __future__ import annotations

from hacore.vrrp import timing

S = 1_000_000


def test_the_default_delay_of_two_seconds() -> None:
    assert timing.advert_interval_us(2 * S) == 500_000  # four adverts inside the wait
    assert timing.announced_interval_cs(2 * S, 3) == 67  # a third, in centiseconds
    # The backup waits the delay, no skew added; a hacore peer's announced third, rounded to 0.67 s,
    # lengthens it by the rounding alone.
    assert timing.master_down_us(2 * S, 660_000) == 2 * S
    assert timing.master_down_us(2 * S, timing.announced_interval_cs(2 * S, 3) * 10_000) == 2_010_000
    assert timing.status_interval_s(2.0) == 2.0 / 3
    assert timing.lease_us(2 * S) == 2 * S


def test_a_slower_peer_is_waited_for_three_of_its_intervals() -> None:
    assert timing.master_down_us(2 * S, 1 * S) == 3 * S


def test_under_three_centiseconds_the_pairs_shared_delay_decides() -> None:
    assert timing.advert_interval_us(10_000) == 2_500  # four adverts inside 10 ms
    assert timing.announced_interval_cs(10_000, 3) == 1  # the field's floor: it cannot say 2.5 ms
    assert timing.master_down_us(10_000, 10_000) == 10_000  # not 3 x 10 ms: the delay both nodes share
    assert timing.master_down_us(30_000, 10_000) == 30_000
    assert timing.master_down_us(10_000, 20_000) == 60_000  # a peer announcing more is still waited for


def test_the_announced_interval_fits_its_field() -> None:
    assert timing.announced_interval_cs(30_000, 3) == 1  # one centisecond
    assert timing.announced_interval_cs(200 * S, 3) == 4095  # 12 bits
    assert timing.announced_interval_cs(3 * S, 2) == 100  # VRRPv2: whole seconds
    assert timing.announced_interval_cs(S, 2) == 100  # never zero


def test_the_lease_outlasts_a_busy_loop_at_short_delays() -> None:
    assert timing.lease_us(100_000) == timing.LEASE_MIN_US
