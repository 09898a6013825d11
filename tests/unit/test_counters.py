"""Counters have a schema: declared once with their help and labels, a typo fails here, not in production."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import hacore
from hacore.support.counters import Schema, Spec

PRODUCT = Path(hacore.__file__).parent


def _schemas() -> list[Schema]:
    found: list[Schema] = []
    for m in pkgutil.walk_packages(hacore.__path__, "hacore."):
        if m.name.endswith("__main__") or (m.name.endswith("vrrp.fastcodec") and not hacore.has_fastpath):
            continue
        module = importlib.import_module(m.name)
        found += [v for v in vars(module).values() if isinstance(v, Schema) and v not in found]
    return found


def test_an_undeclared_counter_or_wrong_labels_raise_at_once() -> None:
    c = Schema("t", Spec("drops", "dropped", ("reason",)), Spec("sent", "sent")).new()
    c.inc("sent")
    c.inc("drops", reason="short")
    c.inc("drops", 2, reason="short")
    assert c["sent"] == 1 and c.view("drops") == {"short": 3} and c.flat() == {"sent": 1, "drops_short": 3}
    with pytest.raises(KeyError, match="undeclared counter 'snet'"):
        c.inc("snet")
    with pytest.raises(ValueError, match="labels"):
        c.inc("drops", link="lan1")
    with pytest.raises(ValueError, match="not a gauge"):
        c.set("sent", 5)
    with pytest.raises(ValueError, match="help"):
        Spec("x", "")
    with pytest.raises(ValueError, match="snake_case"):
        Spec("Bad-Name", "help")


def test_every_counter_the_code_names_is_declared_with_its_labels() -> None:
    declared: dict[str, set[tuple[str, ...]]] = {}
    for s in _schemas():
        for name, spec in s.specs.items():
            declared.setdefault(name, set()).add(spec.labels)
    named: set[tuple[str, tuple[str, ...]]] = set()
    for path in PRODUCT.rglob("*.py"):
        for name, args in re.findall(r'\.inc\(\s*"(\w+)"([^)]*)', path.read_text()):
            named.add((name, tuple(re.findall(r"(\w+)=", args))))
    assert named, "no counting site found: the pattern above is stale"
    for name, labels in sorted(named):
        assert name in declared, f"{name} is counted but never declared"
        assert labels in declared[name], f"{name} counted with {labels}, declared with {declared[name]}"


def test_counters_built_from_names_exist_for_every_name() -> None:
    from hacore.vrrp.machine import COUNTERS, Role

    assert {f"to_{r}" for r in Role} | {"resign_maintenance", "resign_shutdown"} <= set(COUNTERS.specs)


def test_no_scope_is_declared_twice() -> None:
    scopes = [s.scope for s in _schemas()]
    assert len(scopes) == len(set(scopes)), scopes
