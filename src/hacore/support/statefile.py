"""JSON files in the state directory, read so that damage never stops a start.

Rules: a file that is unreadable, not JSON, or JSON of the wrong shape is
moved aside to <name>.corrupt with a warning, and the default is used, so a
damaged file can never put the daemon into a systemd restart loop. Writes
are atomic (hacore.support.atomic).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hacore.support.atomic import atomic_write
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.state")
T = TypeVar("T")


def load(path: Path, shape_ok: Callable[[Any], bool], default: T) -> T:
    """The file's JSON value if shape_ok accepts it; else default (a damaged file is set aside)."""
    try:
        value = json.loads(path.read_bytes())
        if shape_ok(value):
            return value  # type: ignore[no-any-return]
        problem = "unexpected content"
    except FileNotFoundError:
        return default
    except (OSError, ValueError, RecursionError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    aside = path.with_name(path.name + ".corrupt")
    try:
        path.replace(aside)
    except OSError as exc:
        aside = Path(f"(not moved: {exc.strerror})")
    log(logger, "state_file_damaged", logging.WARNING, file=path, problem=problem, moved_to=aside)
    return default


def save(path: Path, value: Any) -> None:
    atomic_write(path, json.dumps(value, separators=(",", ":")).encode())


def is_str_int_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and type(v) is int for k, v in value.items())
