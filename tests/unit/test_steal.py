"""Steal time beside advert gaps (hacore_lab.steal): the attribution the floor soak reports."""

from __future__ import annotations

from hacore_lab.steal import attribute, read_steal_ticks

MS = 1_000_000


def test_steal_is_the_aggregate_lines_eighth_value() -> None:
    text = "cpu  11280 0 5232 141204 375 0 252 103 0 0\ncpu0 3378 0 2019 73662 62 0 95 52 0 0\n"
    assert read_steal_ticks(text) == 103
    assert read_steal_ticks("intr 1 2 3\n") == 0


def test_a_long_gap_has_steal_only_when_steal_grew_inside_it() -> None:
    arrivals = [0, 2 * MS, 4 * MS, 12 * MS, 14 * MS, 22 * MS, 24 * MS]  # two gaps of 8 ms
    grew = [(5 * MS, 6 * MS, 1)]  # inside the first long gap only
    out = attribute(arrivals, 4 * MS, grew, 0, 100 * MS)
    assert (out["long_gaps"], out["long_gaps_with_steal"]) == (2, 1)
    # a window of 8 ms meets [5, 6] ms when it starts in (-3, 6) ms: 6 of the 92 ms where one can start
    assert out["steal_chance_pct"] == round(100 * 6 / 92, 1)


def test_no_long_gap_no_chance_to_report() -> None:
    out = attribute([0, 2 * MS, 4 * MS], 4 * MS, [(1 * MS, 2 * MS, 1)], 0, 10 * MS)
    assert out == {"long_gaps": 0, "long_gaps_with_steal": 0}
