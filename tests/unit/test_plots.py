"""The benches' figures: drawn from a report as SVG, nothing without rows to draw."""

from __future__ import annotations

from pathlib import Path

from bench import plots

from hacore_lab.advertbench import GAP_EDGES_MS, gap_histogram


def test_advert_gaps_are_binned_and_drawn_per_load_with_each_spares_wait(tmp_path: Path) -> None:
    counts = gap_histogram([2.5, 2.6, 0.1, 9.9, 10.4, 1000.0])
    assert sum(counts) == 6 and counts[-1] == 1 and len(counts) == len(GAP_EDGES_MS) + 1
    row = {"part": "floor", "load": "all", "stack": "hacore+rt", "delay_s": 0.01, "role_changes": 0,
           "master_down_ms": 10.0, "gap_histogram": counts}
    out = tmp_path / "gaps.svg"
    assert plots.advert_gaps({"rows": [row, row | {"stack": "keepalived+rt", "master_down_ms": 36.1}]}, out) == 1
    svg = out.read_text()
    assert svg.startswith("<?xml") and "load: all" in svg and "keepalived+rt (delay 0.01 s; 0 false failovers)" in svg
    assert plots.advert_gaps({"rows": [row | {"part": "soak"}]}, tmp_path / "none.svg") == 0
    assert not (tmp_path / "none.svg").exists()


def test_flow_stalls_are_drawn_per_fault_with_rto_min(tmp_path: Path) -> None:
    row = {"fault": "kill", "stack": "hacore", "master_down_ms": 10.0, "tcp_survived": 3, "tcp_flows": 3,
           "stall_ms": [0.4, 0.5, 206.0]}
    out = tmp_path / "stalls.svg"
    assert plots.flow_stalls({"rows": [row, row | {"stack": "keepalived+conntrackd"}]}, out) == 1
    svg = out.read_text()
    assert "fault: kill" in svg and "keepalived+conntrackd (master down 10 ms; 3/3 flows survived)" in svg
    assert plots.flow_stalls({"rows": [row | {"stall_ms": []}]}, tmp_path / "none.svg") == 0
    assert not (tmp_path / "none.svg").exists()
