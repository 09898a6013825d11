"""Draws what bench/README.md tabulates, as SVG a reader can look at instead
of the table (matplotlib, no display needed).

    python bench/plots.py adverts RESULTS.json bench/advert-gaps.svg   (hacore bench adverts --json)
    python bench/plots.py flows RESULTS.json bench/flow-stalls.svg     (hacore bench flows --json)

adverts: for each load of the detection-floor part, the gaps between two
adverts on the spare's wire as a histogram per stack (log counts), with the
time each stack's spare waits before it takes over drawn as a dashed line:
a bar right of its line is a false failover.

flows: for each fault, the share of TCP flows whose longest stall exceeded
a given time, per stack (all runs pooled, log-log), with Linux's RTO_min
drawn: a flow right of it waited for a retransmission, one far right of it
for more than one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("svg")
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

from hacore_lab.advertbench import GAP_EDGES_MS  # noqa: E402
from hacore_lab.flowbench import RTO_MIN_MS  # noqa: E402

COLOURS = {"hacore+rt": "#2e7d32", "hacore": "#1565c0", "keepalived+rt": "#c62828", "keepalived": "#ef6c00",
           "keepalived+conntrackd": "#c62828"}


def advert_gaps(report: dict[str, Any], out: Path) -> int:
    """One panel per load of the floor part; returns the panels drawn (0: no floor rows, nothing written)."""
    rows = [r for r in report["rows"] if r["part"] == "floor" and r.get("gap_histogram")]
    loads = list(dict.fromkeys(r["load"] for r in rows))
    if not loads:
        return 0
    fig, axes = plt.subplots(len(loads), 1, figsize=(9, 2.4 * len(loads)), sharex=True, squeeze=False)
    edges = [0.0, *GAP_EDGES_MS, GAP_EDGES_MS[-1] * 2]
    for ax, load in zip(axes[:, 0], loads, strict=True):
        for r in (r for r in rows if r["load"] == load):
            colour = COLOURS.get(r["stack"], "#555")
            label = f"{r['stack']} (delay {r['delay_s']:g} s; {r['role_changes']} false failovers)"
            ax.stairs(r["gap_histogram"], edges, color=colour, label=label, linewidth=1.4)
            ax.axvline(r["master_down_ms"], color=colour, linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"load: {load}", fontsize=10, loc="left")
        ax.set_ylabel("adverts")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("gap between two adverts on the spare's wire (ms, log); dashed: when that spare "
                           "takes over")
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return len(loads)


def flow_stalls(report: dict[str, Any], out: Path) -> int:
    """One panel per fault; returns the panels drawn (0: no measured rows, nothing written)."""
    rows = [r for r in report["rows"] if r["stall_ms"]]
    faults = list(dict.fromkeys(r["fault"] for r in rows))
    if not faults:
        return 0
    fig, axes = plt.subplots(len(faults), 1, figsize=(9, 2.8 * len(faults)), sharex=True, squeeze=False)
    for ax, fault in zip(axes[:, 0], faults, strict=True):
        for r in (r for r in rows if r["fault"] == fault):
            # Flows whose stall is at least x, at each distinct x to a tenth of a millisecond (a small file).
            values, counts = np.unique(np.round(r["stall_ms"], 1), return_counts=True)
            share = np.cumsum(counts[::-1])[::-1] / counts.sum()
            stalls = values
            label = (f"{r['stack']} (master down {r['master_down_ms']:g} ms; {r['tcp_survived']:,}/"
                     f"{r['tcp_flows']:,} flows survived)")
            ax.step(stalls, share, where="post", color=COLOURS.get(r["stack"], "#555"), label=label, linewidth=1.4)
        ax.axvline(RTO_MIN_MS, color="#555", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"fault: {fault}", fontsize=10, loc="left")
        ax.set_ylabel("share of flows")
        ax.legend(fontsize=7, loc="lower left")
    axes[-1, 0].set_xlabel("a TCP flow's longest stall, send to echo (ms, log); dotted: RTO_min")
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return len(faults)


def main(kind: str, json_path: str, out: str) -> None:
    report = json.loads(Path(json_path).read_text())
    drawn = {"adverts": advert_gaps, "flows": flow_stalls}[kind](report, Path(out))
    print(f"{out}: {drawn} panels" if drawn else f"{out}: nothing to draw (no measured rows), left as it was")


if __name__ == "__main__":
    main(*sys.argv[1:4])
