"""One percentile for every figure hacore reports (loop lateness here, the
benchmarks in the lab).

Rules: pure; nearest rank, so a reported p99 is a value that was measured,
and with few samples p99 is the maximum and says so by being equal to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of values; 0.0 for none."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
