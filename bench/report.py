"""Rewrites the tables of bench/README.md from benchmark results.

    python bench/report.py codec RESULTS.json bench/README.md     (pytest-benchmark JSON)
    python bench/report.py failover RESULTS.json bench/README.md  (hacore bench failover --json)

Codec ratios are against the pure-Python codec of the same group (higher =
faster), on medians, because a shared machine has outliers.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from hacore.lab.bench import markdown as failover_table


def codec_table(results: dict) -> str:
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for b in results["benchmarks"]:
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


def main(kind: str, json_path: str, readme: str) -> None:
    data = json.loads(Path(json_path).read_text())
    table = codec_table(data) if kind == "codec" else failover_table(data)
    begin, end = f"<!-- {kind}:begin -->", f"<!-- {kind}:end -->"
    text = Path(readme).read_text()
    Path(readme).write_text(re.sub(f"{begin}.*?{end}", f"{begin}\n{table}\n{end}", text, flags=re.S))
    print(table)


if __name__ == "__main__":
    main(*sys.argv[1:4])
