"""Role changes, kept across restarts: when, old -> new, why.

Rules: atomic rewrites of one JSON file in the state directory (a crash
leaves the old list or the new one); the newest KEEP entries are kept.
append() records in memory at once; save() writes the file and may run on a
worker thread, so a takeover need not wait for the disk.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from hacore.support import statefile
from hacore.support.atomic import atomic_write
from hacore.support.counters import Schema, Spec

KEEP = 1000
COUNTERS = Schema("role", Spec("changes", "role changes since the daemon started, by new role and reason",
                               ("to", "reason")))


class History:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()  # the entries: held briefly, also by the loop
        self._write_lock = threading.Lock()  # the file: only savers (on threads) wait for the disk
        self._entries: list[dict[str, Any]] = statefile.load(path, _entries_ok, [])
        self.counters = COUNTERS.new()

    def append(self, when_s: float, old: str, new: str, reason: str) -> None:
        with self._lock:
            self._entries.append({"when": round(when_s, 6), "old": old, "new": new, "reason": reason})
            self._entries = self._entries[-KEEP:]
        self.counters.inc("changes", to=new, reason=reason)

    def annotate(self, when_s: float, steps: dict[str, float]) -> bool:
        """Attach a change's timed steps to its entry; False if the entry is gone."""
        with self._lock:
            for entry in reversed(self._entries):
                if entry["when"] == round(when_s, 6):
                    entry["steps"] = steps
                    return True
        return False

    def save(self) -> None:
        """Write the entries (fsync). The entries' lock is not held across the write, so a role change
        on the loop never waits for the disk; a save that starts later writes a newer snapshot."""
        with self._write_lock:
            with self._lock:
                data = json.dumps(self._entries, indent=0).encode()
            atomic_write(self.path, data)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)


def _entries_ok(value: Any) -> bool:
    keys: dict[str, type | tuple[type, ...]] = {"when": (int, float), "old": str, "new": str, "reason": str}
    return isinstance(value, list) and all(
        isinstance(e, dict) and set(e) - {"steps"} == set(keys) and all(isinstance(e[k], t) for k, t in keys.items())
        and _steps_ok(e.get("steps", {})) for e in value)


def _steps_ok(steps: Any) -> bool:
    return isinstance(steps, dict) and all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in steps.items())
