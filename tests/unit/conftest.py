"""Fixtures for the unit tests: `codec` runs a test once per codec twin."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.conftest import need
from tests.unit.codecs import CODECS


@pytest.fixture(params=["py", "fast"])
def codec(request: pytest.FixtureRequest) -> ModuleType:
    mod = CODECS[request.param]
    need(mod is not None, "the compiled fast path is not built")
    return mod  # type: ignore[return-value]
