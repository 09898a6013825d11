"""Rewrites the tables of bench/README.md from benchmark results.

    python bench/report.py codec RESULTS.json bench/README.md     (pytest-benchmark JSON)
    python bench/report.py failover RESULTS.json bench/README.md  (hacore bench failover --json)
    python bench/report.py sync RESULTS.json bench/README.md      (hacore bench sync --json)
    python bench/report.py takeover RESULTS.json bench/README.md  (hacore bench takeover --json)
    python bench/report.py flows RESULTS.json bench/README.md     (hacore bench flows --json)
    python bench/report.py adverts RESULTS.json bench/README.md   (hacore bench adverts --json)
    python bench/report.py adverts RESULTS.json bench/README.md floor-steal   (some cases again, their own block)
    python bench/report.py sender RESULTS.json bench/README.md    (bench/sender_cost.py --json)

Codec ratios are against the pure-Python codec of the same group (higher =
faster), on medians, because a shared machine has outliers.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from hacore_lab.advertbench import markdown as adverts_table
from hacore_lab.bench import markdown as failover_table
from hacore_lab.flowbench import markdown as flows_table
from hacore_lab.syncbench import markdown as sync_table
from hacore_lab.takeoverbench import markdown as takeover_table
from sender_cost import markdown as sender_table  # bench/ is this script's directory


def codec_table(results: dict) -> str:
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for b in results["benchmarks"]:
        if "flows" not in b.get("extra_info", {}):
            groups[b["group"]][b["params"]["impl"]] = b["stats"]["median"]
    lines = ["| operation | implementation | median | vs pure Python |", "|---|---|---:|---:|"]
    for group, impls in groups.items():
        base = impls.get("py")
        for impl, median in sorted(impls.items(), key=lambda kv: kv[1]):
            ratio = f"{base / median:.1f}x" if base else "-"
            lines.append(f"| {group} | {impl} | {median * 1e9:,.0f} ns | {ratio} |")
    m = results["machine_info"]
    lines += ["", f"Machine: {m.get('cpu', {}).get('brand_raw', '?')}, Python {m['python_version']}; "
                  f"{results['datetime'][:10]}."]
    return "\n".join(lines)


def ct_table(results: dict) -> str:
    """Per-flow cost of the conntrack fast path beside pyroute2 ("py"), and bytes on the wire."""
    rows: dict[str, dict[str, tuple[float, dict]]] = defaultdict(dict)
    for b in results["benchmarks"]:
        extra = b.get("extra_info", {})
        if "flows" in extra:
            rows[b["group"]][b["params"]["impl"]] = (b["stats"]["median"] / extra["flows"], extra)
    lines = ["| operation | implementation | per flow (median) | flows/s | vs pyroute2 |", "|---|---|---:|---:|---:|"]
    wire = ""
    for group, impls in rows.items():
        base = impls.get("py", (None, {}))[0]
        for impl, (per, extra) in sorted(impls.items(), key=lambda kv: kv[1][0]):
            name = "pyroute2 (pure Python)" if impl == "py" else "_fastpath"
            ratio = f"{base / per:,.0f}x" if base else "no pyroute2 equivalent"
            lines.append(f"| {group} | {name} | {per * 1e9:,.0f} ns | {1 / per:,.0f} | {ratio} |")
            if "wire_bytes_per_new_flow" in extra:
                wire = (f"Bytes on the hotwire: {extra['wire_bytes_per_new_flow']} per new NATed IPv4 UDP flow "
                        f"({extra['datagrams']} datagrams of at most 1,426 payload bytes for {extra['flows']:,} "
                        "flows, plus 46 bytes of header and MAC each); 10 per update that changes one field "
                        "(a timeout), 15 for a TCP state change with its timeout.")
    m = results["machine_info"]
    lines += ["", wire, "", f"Machine: {m.get('cpu', {}).get('brand_raw', '?')}, Python {m['python_version']}; "
                            f"{results['datetime'][:10]}."]
    return "\n".join(lines)


def _replace(readme: str, kind: str, table: str) -> None:
    begin, end = f"<!-- {kind}:begin -->", f"<!-- {kind}:end -->"
    text = Path(readme).read_text()
    Path(readme).write_text(re.sub(f"{begin}.*?{end}", f"{begin}\n{table}\n{end}", text, flags=re.S))
    print(table)


def main(kind: str, json_path: str, readme: str, block: str = "") -> None:
    """block: the README block a run's rows go to when not their part's own (a re-run of some cases)."""
    data = json.loads(Path(json_path).read_text())
    if kind == "codec":  # one pytest-benchmark run holds both the advert codec and the conntrack path
        _replace(readme, "codec", codec_table(data))
        _replace(readme, "ct", ct_table(data))
    elif kind == "adverts" and block:
        _replace(readme, block, adverts_table(data))
    elif kind == "adverts":  # the detection floor has a section of its own; a run updates what it measured
        for part, rows in (("adverts", [r for r in data["rows"] if r["part"] != "floor"]),
                           ("floor", [r for r in data["rows"] if r["part"] == "floor"])):
            if rows:
                _replace(readme, part, adverts_table({"rows": rows}))
    elif kind == "failover":  # so is the failover at each stack's floor
        blocks = {"floor": "failover-floor", "floor-load": "failover-load"}
        for block in ("failover", *blocks.values()):
            rows = [r for r in data["rows"] if blocks.get(r.get("case_key", ""), "failover") == block]
            if rows:
                _replace(readme, block, failover_table(data | {"rows": rows}))
    elif kind == "takeover":  # idle and busy CPUs, normal and real-time priority: a block each
        name = "takeover" + ("-busy" if data.get("load") == "busy" else "") + ("-rt" if data.get("realtime") else "")
        _replace(readme, name, takeover_table(data))
    else:
        tables = {"sync": sync_table, "sender": sender_table, "flows": flows_table}
        _replace(readme, kind, tables[kind](data))


if __name__ == "__main__":
    main(*sys.argv[1:5])
