"""The drop reasons are one enum in three places: the C header shared with BPF,
the compiled module (which includes that header) and Python."""

from __future__ import annotations

import re
from pathlib import Path

from hacore.vrrp.drops import Checksum, Drop
from tests.conftest import need
from tests.unit.codecs import CODECS

HEADER = Path(__file__).parents[2] / "bpf" / "hacore_vrrp.h"


def _enum(name: str, prefix: str) -> dict[str, int]:
    body = re.search(rf"enum {name} \{{(.*?)\}};", HEADER.read_text(), re.S).group(1)  # type: ignore[union-attr]
    return {m[0]: int(m[1]) for m in re.findall(rf"{prefix}(\w+) = (\d+)", body) if not m[0].startswith("_")}


def test_python_drop_equals_the_c_header() -> None:
    assert {d.name: d.value for d in Drop} == _enum("hacore_drop", "HACORE_DROP_")


def test_python_checksum_modes_equal_the_c_header() -> None:
    assert {c.name: c.value for c in Checksum} == _enum("hacore_csum", "HACORE_CSUM_")


def test_compiled_module_sees_the_same_values() -> None:
    need(CODECS["fast"] is not None, "the compiled fast path is not built")
    from hacore import _fastpath

    assert {d.name: d.value for d in Drop} == _fastpath.DROP_VALUES
    assert len(Drop) == _fastpath.DROP_COUNT
