"""Draws what bench/README.md tabulates, as SVG a reader can look at instead
of the table (matplotlib, no display needed).

    python bench/plots.py adverts RESULTS.json bench/advert-gaps.svg   (hacore bench adverts --json)

adverts: for each load of the detection-floor part, the gaps between two
adverts on the spare's wire as a histogram per stack (log counts), with the
time each stack's spare waits before it takes over drawn as a dashed line:
a bar right of its line is a false failover.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("svg")
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

from hacore_lab.advertbench import GAP_EDGES_MS  # noqa: E402

COLOURS = {"hacore+rt": "#2e7d32", "hacore": "#1565c0", "keepalived+rt": "#c62828", "keepalived": "#ef6c00"}


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


def main(kind: str, json_path: str, out: str) -> None:
    report = json.loads(Path(json_path).read_text())
    drawn = {"adverts": advert_gaps}[kind](report, Path(out))
    print(f"{out}: {drawn} panels" if drawn else f"{out}: nothing to draw (no floor rows), left as it was")


if __name__ == "__main__":
    main(*sys.argv[1:4])
