"""Turns a pytest-benchmark JSON file into the ratio table of bench/README.md.

Ratios are against the pure-Python codec of the same group (higher = faster);
medians, because a shared machine has outliers.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

BEGIN, END = "<!-- table:begin -->", "<!-- table:end -->"


def table(results: dict) -> str:
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for b in results["benchmarks"]:
        impl = b["params"]["impl"]
        groups[b["group"]][impl] = b["stats"]["median"]
    lines = ["| operation | implementation | median | vs pure Python |", "|---|---|---:|---:|"]
    for group, impls in groups.items():
        base = impls.get("py")
        for impl, median in sorted(impls.items(), key=lambda kv: kv[1]):
            ratio = f"{base / median:.1f}x" if base else "-"
            lines.append(f"| {group} | {impl} | {median * 1e9:,.0f} ns | {ratio} |")
    m = results["machine_info"]
    lines.append("")
    lines.append(f"Machine: {m.get('cpu', {}).get('brand_raw', '?')}, Python {m['python_version']}; "
                 f"{results['datetime'][:10]}.")
    return "\n".join(lines)


def main(json_path: str, readme: str) -> None:
    text = Path(readme).read_text()
    new = table(json.loads(Path(json_path).read_text()))
    Path(readme).write_text(re.sub(f"{BEGIN}.*?{END}", f"{BEGIN}\n{new}\n{END}", text, flags=re.S))
    print(new)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
