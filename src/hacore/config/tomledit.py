"""Rewrite a configuration's TOML text to hold new values, keeping the
operator's comments, key order and layout wherever a key stays.

Rules: pure (text in, text out); driven by the model, like parse: a key the
text leaves out stays out while its new value is the default, so a rewrite
adds only what differs. Lists of tables are matched by position.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import tomlkit
from tomlkit.items import AoT
from tomlkit.items import Table as TomlTable

from hacore.config.model import Config
from hacore.config.parse import to_dict


def rewrite(text: str, data: dict[str, Any]) -> str:
    """text changed so that it parses to data (a Config as plain data, every field present)."""
    doc = tomlkit.parse(text)
    _sync(doc, data, Config)
    return tomlkit.dumps(doc)


def _sync(table: Any, data: dict[str, Any], cls: type) -> None:
    blank = to_dict(cls())
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, want = f.name, data.get(f.name, blank[f.name])
        tp = hints[key]
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else None
        if key not in table:
            if want != blank[key]:
                table[key] = want
            continue
        cur = table[key]
        if dataclasses.is_dataclass(tp) and isinstance(cur, dict):
            _sync(cur, want, tp)  # type: ignore[arg-type]
        elif inner is not None and dataclasses.is_dataclass(inner) and isinstance(cur, AoT | list) \
                and all(isinstance(t, TomlTable | dict) for t in cur):
            for i, item in enumerate(want):
                if i < len(cur):
                    _sync(cur[i], item, inner)  # type: ignore[arg-type]
                else:
                    cur.append(item)
            while len(cur) > len(want):
                del cur[len(cur) - 1]
        elif _plain(cur) != want:
            table[key] = want


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item
