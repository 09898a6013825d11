"""Named configurations with history, and the start configuration.

Rules: every write is atomic (temp file, fsync, rename, fsync dir), so a
process killed at any instant leaves the old file or the new one, never half
of one; only a validated config is ever written. Layout of the state dir:
configs/<name>.toml, history.json. The start configuration is the daemon's
-c file; it can be referred to as "start".
"""

from __future__ import annotations

import difflib
import json
import re
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomli_w

from hacore.atomic import TMP_MARK, atomic_write
from hacore.config.model import Config
from hacore.config.parse import SECRETS, ConfigError, Problem, digest, flatten, mask
from hacore.config.validate import check

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
START = "start"


@dataclass(frozen=True)
class Entry:
    name: str
    action: str  # save | load
    who: str
    when: float  # unix seconds
    digest: str


class Store:
    def __init__(self, state_dir: Path, start_path: Path):
        self.dir = state_dir / "configs"
        self.history_path = state_dir / "history.json"
        self.start_path = start_path
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in [*self.dir.glob(f".*{TMP_MARK}*"), *state_dir.glob(f".*{TMP_MARK}*")]:
            stale.unlink(missing_ok=True)  # left by a write that was killed

    def _path(self, name: str) -> Path:
        if not NAME_RE.match(name) or name == START:
            raise ConfigError([Problem("name", f"invalid configuration name {name!r} (letters, digits, . _ -; "
                                               f"not {START!r})")])
        return self.dir / f"{name}.toml"

    def text(self, name: str) -> str:
        path = self.start_path if name == START else self._path(name)
        try:
            return path.read_text()
        except FileNotFoundError:
            raise ConfigError([Problem("name", f"no configuration named {name!r}")]) from None

    def history(self) -> list[Entry]:
        try:
            return [Entry(**e) for e in json.loads(self.history_path.read_text())]
        except FileNotFoundError:
            return []

    def _record(self, name: str, action: str, who: str, cfg: Config) -> Entry:
        entry = Entry(name, action, who, time.time(), digest(cfg))
        entries = [asdict(e) for e in self.history()] + [asdict(entry)]
        atomic_write(self.history_path, json.dumps(entries, indent=1).encode())
        return entry

    def save(self, name: str, text: str, who: str) -> Entry:
        """Store text (validated first) as configuration name."""
        path = self._path(name)
        cfg, _ = check(text)
        atomic_write(path, text.encode())
        return self._record(name, "save", who, cfg)

    def record_load(self, name: str, who: str, cfg: Config) -> None:
        """Configuration name is the start configuration now (the daemon wrote and applied it)."""
        self._record(name, "load", who, cfg)

    def write_start(self, text: str) -> None:
        check(text)
        atomic_write(self.start_path, text.encode())

    def list(self) -> list[dict[str, Any]]:
        start_digest = _digest_or_none(self.start_path.read_text())
        last: dict[str, Entry] = {e.name: e for e in self.history() if e.action == "save"}
        rows = []
        for path in sorted(self.dir.glob("*.toml")):
            name = path.stem
            d = _digest_or_none(path.read_text())
            e = last.get(name)
            rows.append({
                "name": name, "digest": d[:12] if d else "invalid", "start": d is not None and d == start_digest,
                "saved": e.when if e else path.stat().st_mtime, "who": e.who if e else "",
            })
        return rows

    def diff(self, a: str | None, b: str | None) -> str:
        """Unified diff of two configurations, every setting on its own line, secrets masked.

        No names: the last saved configuration against the start configuration.
        """
        if a is None:
            saves = [e.name for e in self.history() if e.action == "save"]
            if not saves:
                raise ConfigError([Problem("name", "nothing saved yet: name two configurations")])
            a = saves[-1]
        b = b or START
        left, right = _flat(self.text(a)), _flat(self.text(b))
        return "".join(difflib.unified_diff(left, right, a, b))


def _digest_or_none(text: str) -> str | None:
    try:
        cfg, _ = check(text)
    except ConfigError:
        return None
    return digest(cfg)


def _flat(text: str) -> list[str]:
    """Every setting as `path = value`, defaults filled, secrets masked, so a diff shows meaning, not layout."""
    cfg, _ = check(text)
    return [f"{k} = {json.dumps(mask(v) if k in SECRETS else v)}\n" for k, v in flatten(cfg).items()]


def set_value(text: str, path: tuple[str, ...], value: Any) -> str:
    """text with one setting changed, re-rendered as TOML (comments are not kept)."""
    data = tomllib.loads(text)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return tomli_w.dumps(data)
