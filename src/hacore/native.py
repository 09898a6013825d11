"""Loads the compiled fast path once for the whole package.

Without it hacore falls back to the pure-Python codec and warns; where
HACORE_NO_SKIP=1 (CI) its absence is an error, so a broken build cannot pass
as a slow one.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType


def strict() -> bool:
    """True where a missing capability must fail rather than skip (CI)."""
    return os.environ.get("HACORE_NO_SKIP") == "1"


def _load() -> ModuleType | None:
    try:
        from hacore import _fastpath
    except ImportError as exc:
        if strict():
            raise ImportError(
                "hacore._fastpath is not built (HACORE_NO_SKIP=1 makes this an error): run tools/setup.sh"
            ) from exc
        warnings.warn(
            f"hacore._fastpath not built ({exc}); using the pure-Python codec", RuntimeWarning, stacklevel=2
        )
        return None
    return _fastpath


fastpath = _load()
