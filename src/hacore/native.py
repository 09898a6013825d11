"""Loads the compiled fast path once for the whole package.

Without it hacore falls back to the pure-Python codec and warns. Whether a
missing build is an error is the test suite's call (tests/conftest.py), not
the product's: the product reads no CI switch.
"""

from __future__ import annotations

import warnings
from types import ModuleType


def _load() -> ModuleType | None:
    try:
        from hacore import _fastpath
    except ImportError as exc:
        warnings.warn(
            f"hacore._fastpath not built ({exc}); using the pure-Python codec", RuntimeWarning, stacklevel=2
        )
        return None
    return _fastpath


fastpath = _load()
