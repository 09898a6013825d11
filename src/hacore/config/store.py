"""Named configurations with history, the start configuration, and every
configuration the start one replaced (revisions).

Rules: every write is atomic (temp file, fsync, rename, fsync dir), so a
process killed at any instant leaves the old file or the new one, never half
of one; only a validated config is ever written. The start configuration is
the daemon's -c file ("start"): what it holds once loaded is what runs, and
the daemon never overwrites an edit of it that was not loaded. Whatever
replaces the running configuration keeps it as a revision first ("@N"), so a
crash between the two leaves one revision too many, never one too few.
Layout of the state dir: configs/<name>.toml, history.json,
revisions/<N>.toml, revisions.json.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hacore.config.model import Config
from hacore.config.parse import SECRETS, ConfigError, Problem, digest, flatten, mask, parse, to_dict
from hacore.config.tomledit import rewrite
from hacore.config.validate import check
from hacore.support.atomic import TMP_MARK, atomic_write

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
START = "start"


class UnloadedEdit(ConfigError):
    """The start file holds an edit the daemon does not run; rewriting it would lose that edit."""

    def __init__(self, path: Path):
        super().__init__([Problem(str(path), "holds edits that are not loaded: `hacore system config load start` "
                                             "runs them (or undo them); nothing was changed")])


@dataclass(frozen=True)
class Revision:
    rev: int
    when: float  # unix seconds: when it was replaced
    who: str  # who replaced it
    why: str  # what replaced it (extc set ..., config load ..., config sync from ...)
    digest: str  # of its shared settings


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
        self.rev_dir = state_dir / "revisions"
        self.rev_index = state_dir / "revisions.json"
        self.start_path = start_path
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.rev_dir.mkdir(exist_ok=True, mode=0o700)
        for where in (self.dir, self.rev_dir, state_dir):
            for stale in where.glob(f".*{TMP_MARK}*"):
                stale.unlink(missing_ok=True)  # left by a write that was killed

    def _path(self, name: str) -> Path:
        if not NAME_RE.match(name) or name == START:
            raise ConfigError([Problem("name", f"invalid configuration name {name!r} (letters, digits, . _ -; "
                                               f"not {START!r})")])
        return self.dir / f"{name}.toml"

    def text(self, name: str) -> str:
        """A configuration's text by name: "start", a saved name, or "@N" for revision N."""
        if name.startswith("@"):
            path = self.rev_dir / f"{name[1:]}.toml"
            if not name[1:].isdigit() or not path.exists():
                raise ConfigError([Problem("name", f"no revision {name!r} (see `hacore system config list`)")])
            return path.read_text()
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

    def revisions(self) -> list[Revision]:
        try:
            return [Revision(**r) for r in json.loads(self.rev_index.read_text())]
        except FileNotFoundError:
            return []

    def known_digests(self) -> list[str]:
        """The shared digests of every configuration this node has run, kept or saved, newest first."""
        newest = [r.digest for r in reversed(self.revisions())] + [e.digest for e in reversed(self.history())]
        return list(dict.fromkeys(newest))

    def check_unloaded(self, running: str) -> None:
        """Raise UnloadedEdit if the start file differs from the configuration that runs."""
        if self._start_now(running) != running:
            raise UnloadedEdit(self.start_path)

    def _start_now(self, running: str) -> str:
        try:
            return self.start_path.read_text()
        except FileNotFoundError:
            return running

    def replace_start(self, text: str, running: str, who: str, why: str) -> Revision | None:
        """Make text (validated here) the start configuration in place of running, which is kept as a
        revision. Refuses, changing nothing, when the file holds an edit that is neither."""
        check(text)
        if self._start_now(running) not in (running, text):
            raise UnloadedEdit(self.start_path)
        kept = self.keep(running, who, why) if running != text else None
        atomic_write(self.start_path, text.encode())
        return kept

    def keep(self, text: str, who: str, why: str) -> Revision:
        """Keep text as the next revision."""
        revs = self.revisions()
        rev = Revision(revs[-1].rev + 1 if revs else 1, time.time(), who, why, _digest_or_none(text) or "invalid")
        atomic_write(self.rev_dir / f"{rev.rev}.toml", text.encode())
        atomic_write(self.rev_index, json.dumps([asdict(r) for r in [*revs, rev]], indent=1).encode())
        return rev

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
                "saved": e.when if e else path.stat().st_mtime, "who": e.who if e else "", "what": "saved",
            })
        for r in self.revisions():
            rows.append({"name": f"@{r.rev}", "digest": r.digest[:12], "start": r.digest == start_digest,
                         "saved": r.when, "who": r.who, "what": f"replaced by {r.why}"})
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
        return diff_texts(self.text(a), self.text(b), a, b)


def diff_texts(old: str, new: str, a: str = "running", b: str = "new") -> str:
    """Unified diff of two configuration texts, by setting, secrets masked."""
    return "".join(difflib.unified_diff(_flat(old), _flat(new), a, b))


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
    """text with one setting changed; its comments and layout are kept."""
    data = to_dict(parse(text))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return rewrite(text, data)
