"""Counters with a schema: every counter hacore keeps is declared once, with
its kind, help text and label names, beside the code that counts it; the
daemon counts through it, `cluster info` reads it, and metrics can be made
from the same declarations.

Rules: pure. A name that was not declared, or labels that differ from the
declared ones, raise at once (local misuse, not peer input: the unit tests
reach every counting site), so a typo cannot make a silent new counter.
Label values are free (a drop reason, a link), names are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Spec:
    name: str
    help: str
    labels: tuple[str, ...] = ()
    kind: Literal["counter", "gauge"] = "counter"  # a counter only goes up; a gauge is set

    def __post_init__(self) -> None:
        if not NAME.match(self.name) or not all(NAME.match(lb) for lb in self.labels):
            raise ValueError(f"counter {self.name!r}: names and labels are snake_case")
        if not self.help:
            raise ValueError(f"counter {self.name!r} needs a help text")


class Schema:
    """The counters of one part (its scope: the metric prefix), declared once at import."""

    def __init__(self, scope: str, *specs: Spec):
        self.scope = scope
        self.specs = {s.name: s for s in specs}
        if len(self.specs) != len(specs):
            raise ValueError(f"{scope}: a counter is declared twice")

    def new(self) -> Counters:
        return Counters(self)


class Counters:
    """The values of one schema. Label-less counters read as ints, labelled ones as (nested) dicts."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self._values: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in schema.specs}

    def _key(self, name: str, labels: dict[str, str]) -> tuple[str, ...]:
        spec = self.schema.specs.get(name)
        if spec is None:
            raise KeyError(f"{self.schema.scope}: undeclared counter {name!r}")
        if tuple(labels) != spec.labels:
            raise ValueError(f"{self.schema.scope}.{name}: labels {tuple(labels)} != declared {spec.labels}")
        return tuple(str(labels[lb]) for lb in spec.labels)

    def inc(self, name: str, n: int = 1, **labels: str) -> None:
        key = self._key(name, labels)
        values = self._values[name]
        values[key] = values.get(key, 0) + n

    def set(self, name: str, value: int, **labels: str) -> None:
        key = self._key(name, labels)
        if self.schema.specs[name].kind != "gauge":
            raise ValueError(f"{self.schema.scope}.{name} is not a gauge")
        self._values[name][key] = value

    def get(self, name: str, **labels: str) -> int:
        key = self._key(name, labels)
        return self._values[name].get(key, 0)

    def __getitem__(self, name: str) -> int:
        return self.get(name)

    def view(self, name: str) -> dict[str, object]:
        """A labelled counter as {value: n} (two labels: {a: {b: n}}), only the values counted."""
        spec = self.schema.specs[name]
        out: dict[str, object] = {}
        for key, n in self._values[name].items():
            if not n:
                continue
            if len(spec.labels) == 1:
                out[key[0]] = n
            else:
                inner = out.setdefault(key[0], {})
                assert isinstance(inner, dict)
                inner[key[1]] = n
        return out

    def flat(self, skip: tuple[str, ...] = ()) -> dict[str, int]:
        """Every label-less counter counted so far, and each one-label counter as name_value (but skip)."""
        out: dict[str, int] = {}
        for name, spec in self.schema.specs.items():
            if name in skip:
                continue
            for key, n in self._values[name].items():
                if n and len(spec.labels) <= 1:
                    out["_".join((name, *key))] = n
        return out

    def copy(self) -> Counters:
        """A snapshot (for a reader on another thread, taken under the owner's lock)."""
        out = Counters(self.schema)
        out._values = {name: dict(v) for name, v in self._values.items()}
        return out

    def samples(self) -> Iterator[tuple[Spec, dict[str, str], int]]:
        """Every value with its declaration and labels (for metrics)."""
        for name, spec in self.schema.specs.items():
            for key, n in self._values[name].items():
                yield spec, dict(zip(spec.labels, key, strict=True)), n
