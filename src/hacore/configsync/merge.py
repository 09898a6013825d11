"""What a node makes of a configuration its peer sends: the sender's shared
settings, its own node-local ones, the opposite priority of the sender's.

Rules: pure, driven by the model's scopes (a field the model calls LOCAL is
never taken from the peer). Interfaces are matched by name: one the peer
created arrives without addresses (seed: "the information about the IP
addresses of these interfaces" is not transmitted). Secrets never appear in
a diff: each is shown as a tag that is equal for equal values within one
diff and says nothing about the value.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from typing import Any

from hacore.config.model import LOCAL, SCOPE, Config, Node
from hacore.config.parse import SECRETS, ConfigError, flatten, mask, to_dict
from hacore.config.tomledit import rewrite
from hacore.config.validate import check


def _local(cls: type) -> bool:
    """Whether a dataclass holds node-local fields anywhere inside it."""
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if f.metadata.get(SCOPE) == LOCAL:
            return True
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else tp
        if dataclasses.is_dataclass(inner) and _local(inner):  # type: ignore[arg-type]
            return True
    return False


def _merge(cls: type, theirs: dict[str, Any], ours: dict[str, Any], path: str, kept: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        p = f"{path}.{f.name}" if path else f.name
        tp = hints[f.name]
        if f.metadata.get(SCOPE) == LOCAL:
            out[f.name] = ours[f.name]
            kept.append(p)
            continue
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else None
        if dataclasses.is_dataclass(tp) and _local(tp):  # type: ignore[arg-type]
            out[f.name] = _merge(tp, theirs[f.name], ours[f.name], p, kept)  # type: ignore[arg-type]
        elif inner is not None and dataclasses.is_dataclass(inner) and _local(inner):  # type: ignore[arg-type]
            mine = {item["name"]: item for item in ours[f.name]}
            blank = to_dict(inner())  # type: ignore[operator]
            out[f.name] = [_merge(inner, item, mine.get(item["name"], {**blank, "name": item["name"]}),  # type: ignore[arg-type]
                                  f"{p}[{item['name']}]", kept) for item in theirs[f.name]]
        else:
            out[f.name] = theirs[f.name]
    return out


def merge(theirs: Config, ours: Config, text: str = "") -> tuple[str, list[str]]:
    """The configuration text this node takes from theirs (whose text is text, if given: its comments and
    layout stay), and the node-local paths it kept."""
    kept: list[str] = []
    data = _merge(Config, to_dict(theirs), to_dict(ours), "", kept)
    data["node"]["priority"] = theirs.node.priority.opposite().value  # seed: the receiver takes the other one
    kept.remove("node")
    kept += [f"node.{f.name}" for f in dataclasses.fields(Node) if f.name != "priority"]
    return rewrite(text, data), kept


def flat(cfg: Config) -> dict[str, str]:
    """Every setting as path -> JSON value, secrets masked."""
    return {k: json.dumps(mask(v) if k in SECRETS else v) for k, v in flatten(cfg).items()}


def diff(old: Config, new: Config, kept: list[str], a: str, b: str) -> str:
    """Unified diff of every setting, secrets masked, node-local settings marked as kept."""
    left, right = flat(old), flat(new)

    def is_kept(k: str) -> bool:
        return any(k == p or k.startswith((p + ".", p + "[")) for p in kept)

    def lines(d: dict[str, str]) -> list[str]:
        return [f"{k} = {v}\n" for k, v in d.items()]

    out = "".join(difflib.unified_diff(lines(left), lines(right), a, b)) or "no shared setting changes\n"
    stays = [f"  {k} = {v}\n" for k, v in right.items() if is_kept(k)]
    return out + "# node-local, kept as they are here:\n" + "".join(stays)


def sections(a: Config, b: Config) -> list[str]:
    """Top-level sections whose shared settings differ (what `pending` names)."""
    da, db = to_dict(a, drop_local=True), to_dict(b, drop_local=True)
    out = []
    for key in da:
        if key == "cluster":
            out += [f"cluster.{k}" for k in da[key] if da[key][k] != db[key][k]]
        elif da[key] != db[key]:
            out.append(key)
    return out


def parse(text: Any) -> Config | None:
    """The peer's configuration text as a Config; None if it is not one."""
    try:
        return check(text)[0] if isinstance(text, str) else None
    except ConfigError:
        return None


class Unfit(Exception):
    """The peer's configuration cannot run on this node; str() says why in one line."""


def stage(text: str, ours: Config) -> tuple[Config, str, list[str]]:
    """What this node would run with the peer's text: (config, its text, node-local paths kept)."""
    try:
        theirs, _ = check(text)
    except ConfigError as exc:
        raise Unfit("the configuration sent is invalid: "
                    + "; ".join(str(p) for p in exc.problems if not p.warning)) from None
    merged, kept = merge(theirs, ours, text)
    try:
        staged, _ = check(merged)
    except ConfigError as exc:
        raise Unfit(f"it would be invalid on {ours.node.name}: "
                    + "; ".join(str(p) for p in exc.problems if not p.warning)) from None
    return staged, merged, kept
