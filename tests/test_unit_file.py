"""tools/hacore.service (and the console's tools/hacore-web.service): the notify protocol, a restart
policy that never gives up, and hardening that
systemd's own analyser rates OK."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need

UNIT = Path(__file__).resolve().parents[1] / "tools" / "hacore.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_the_unit_is_notify_with_a_watchdog_and_restarts_forever() -> None:
    unit = _unit()
    assert unit["Service"]["Type"] == "notify" and unit["Service"]["WatchdogSec"]
    assert unit["Service"]["Restart"] == "always" and unit["Unit"]["StartLimitIntervalSec"] == "0"
    assert unit["Service"]["StateDirectory"] == "hacore"


@pytest.mark.parametrize("unit", [UNIT, UNIT.with_name("hacore-web.service")], ids=lambda p: p.name)
def test_systemd_rates_the_units_ok(unit: Path) -> None:
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed")
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True,
                         text=True, timeout=60).stdout
    score = float(re.search(rf"Overall exposure level for {re.escape(unit.name)}: ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    assert score <= 4.0, out[-2000:]
