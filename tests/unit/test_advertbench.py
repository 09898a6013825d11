"""Which cases `hacore bench adverts` runs (hacore_lab.advertbench.plan)."""

from __future__ import annotations

from hacore_lab.advertbench import FLOOR_LOADS, plan


def test_the_floor_runs_every_load_for_each_stack_and_keepalived_has_no_takeover() -> None:
    cases = [(r.label, r.load, r.delay_s, s) for r, s in plan((), 0, 0, 0, ("floor",), 60)]
    assert len(cases) == 3 * len(FLOOR_LOADS) - 1
    assert ("keepalived+rt", "takeover", 0.03, 60) not in cases
    assert ("hacore+rt", "all", 0.01, 60) in cases and ("hacore", "all", 0.03, 60) in cases


def test_one_floor_case_alone() -> None:
    cases = plan((), 0, 0, 0, ("floor",), 600, floor_loads=("all",), floor_stacks=("hacore+rt",))
    assert [(r.label, r.load, r.delay_s, s) for r, s in cases] == [("hacore+rt", "all", 0.01, 600)]
