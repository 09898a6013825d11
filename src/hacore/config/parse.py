"""TOML text -> Config, and Config -> plain data (for digests and for writing).

Rules: no file I/O (the store reads and writes). Conversion is driven by the
model's type hints, so a new field needs no code here. Every problem is
collected with its path; nothing is half-parsed into a Config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
import typing
from enum import Enum
from functools import cache
from typing import Any

from hacore.config.model import LOCAL, SCOPE, Config


@dataclasses.dataclass(frozen=True)
class Problem:
    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{'warning: ' if self.warning else ''}{self.path}: {self.message}"


class ConfigError(Exception):
    """A configuration that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def _convert(tp: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, path, problems)
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(Problem(path, f"expected a list, got {_kind(value)}"))
            return ()
        return tuple(_convert(item_tp, v, _join(path, i), problems) for i, v in enumerate(value))
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in tp)
            problems.append(Problem(path, f"must be one of {choices}, got {value!r}"))
            return next(iter(tp))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (str, int, float, bool) and (type(value) is not tp):
        problems.append(Problem(path, f"expected {tp.__name__}, got {_kind(value)} {value!r}"))
        return tp()
    return value


def _kind(value: Any) -> str:
    kinds: dict[type, str] = {dict: "a table", list: "a list"}
    return kinds.get(type(value), type(value).__name__)


def _build(cls: type, data: Any, path: str, problems: list[Problem]) -> Any:
    if not isinstance(data, dict):
        problems.append(Problem(path or "(top)", f"expected a table, got {_kind(data)}"))
        return cls()
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in sorted(set(data) - names):
        problems.append(Problem(_join(path, key), f"unknown key (known: {', '.join(sorted(names))})"))
    kwargs = {k: _convert(hints[k], v, _join(path, k), problems) for k, v in data.items() if k in names}
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from plain data; raises ConfigError listing every type problem."""
    cfg, problems = parse_partial(data)
    if problems:
        raise ConfigError(problems)
    return cfg


def parse_partial(data: dict[str, Any]) -> tuple[Config, list[Problem]]:
    """A Config with defaults where a value had the wrong type, and those type problems."""
    problems: list[Problem] = []
    return _build(Config, data, "", problems), problems


def load_toml(text: str) -> dict[str, Any]:
    """TOML text to plain data; ConfigError (one problem with its line) on a syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("(toml)", str(exc))]) from None


def parse(text: str) -> Config:
    """Parse TOML text; raises ConfigError (a TOML syntax error is one problem with its line)."""
    return from_dict(load_toml(text))


def decode(data: bytes) -> str:
    """A configuration file's bytes as text; ConfigError in one line when it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem("(file)", f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, "
                                             f"offset {exc.start}")]) from None


def to_dict(obj: Any, drop_local: bool = False) -> Any:
    """Plain data for obj, every default filled; drop_local removes node-local fields."""
    if dataclasses.is_dataclass(obj):
        return {
            f.name: to_dict(getattr(obj, f.name), drop_local)
            for f in dataclasses.fields(obj)
            if not (drop_local and f.metadata.get(SCOPE) == LOCAL)
        }
    if isinstance(obj, tuple):
        return [to_dict(v, drop_local) for v in obj]
    if isinstance(obj, Enum):
        return obj.value
    return obj


def identity(item: dict[str, Any], index: int) -> str:
    """What names a list item in a path: its name, or what makes it the thing it is (a port forward by
    interface, protocol and port; a DHCP range by interface and range), so a diff says added or removed
    rather than one item turning into another."""
    if "kind" in item and "to" in item:  # a NAT rule
        if item["kind"] == "dnat":
            return f"dnat {item['interface']} {item['protocol']}/{item['port'] or '*'}"
        return f"hide {item['interface']} {item['source'] or '*'}"
    if {"interface", "start", "end"} <= item.keys() and "name" not in item:  # a DHCP range
        return f"{item['interface']} {item['start']}-{item['end']}"
    return str(item.get("name") or item.get("interface") or index)


def flatten(cfg: Config) -> dict[str, Any]:
    """Every setting as path -> value; list items by their identity, so a path names a thing."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k in sorted(value):
                walk(f"{prefix}.{k}" if prefix else k, value[k])
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            seen: dict[str, int] = {}
            for i, v in enumerate(value):
                key = identity(v, i)
                seen[key] = seen.get(key, 0) + 1
                walk(f"{prefix}[{key}{f' #{seen[key]}' if seen[key] > 1 else ''}]", v)
        else:
            out[prefix] = value

    walk("", to_dict(cfg))
    return out


SECRETS = ("cluster.passphrase", "cluster.hotwire_secret")
_TAG_SALT = os.urandom(16)  # per process: tags compare within one output, never across runs


def mask(secret: str) -> str:
    """A secret as shown: equal tags for equal values in one output, nothing about the value."""
    if not secret:
        return ""
    return "<secret " + hashlib.blake2s(secret.encode(), key=_TAG_SALT, digest_size=3).hexdigest() + ">"


def canonical(cfg: Config) -> str:
    """The shared part of cfg as sorted compact JSON: equal configs give equal text."""
    return json.dumps(to_dict(cfg, drop_local=True), sort_keys=True, separators=(",", ":"))


def digest(cfg: Config) -> str:
    """SHA-256 of the canonical form: two nodes with the same shared config agree."""
    return hashlib.sha256(canonical(cfg).encode()).hexdigest()
