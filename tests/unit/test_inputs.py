"""Strict inputs: the control schema, log lines that cannot be forged, config files that are not text."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hacore.control.schema import SchemaError, check
from hacore.support.logfmt import LogfmtFormatter
from tests.unit.test_cli import run


@pytest.mark.parametrize(("cmd", "args", "message"), [
    ("extc.set", {"variable": "UPDATE_TRIGGER_DELAY", "value": True}, "argument 'value' must be a str, got bool"),
    ("maintenance.set", {"value": "2"}, "argument 'value' must be one of 0, 1, got '2'"),
    ("maintenance.set", {"value": "1", "force": "yes"}, "argument 'force' must be a bool, got str"),
    ("config.save", {"name": "x" * 65}, "argument 'name' is longer than 64 characters"),
    ("info", {"extra": 1}, "unknown argument 'extra' (known: none)"),
    ("info", [], "args must be an object, got list"),
])
def test_schema_refuses_with_one_line(cmd: str, args: object, message: str) -> None:
    with pytest.raises(SchemaError) as exc:
        check(cmd, args)
    assert str(exc.value) == f"{cmd}: {message}"


def test_unknown_and_non_string_commands_are_refused() -> None:
    with pytest.raises(SchemaError, match="unknown command 'nope'"):
        check("nope", {})
    with pytest.raises(SchemaError, match="unknown command of type dict"):
        check({"a": 1}, {})


def _line(msg: str, **fields: object) -> str:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, None, None)
    record.fields = fields  # type: ignore[attr-defined]
    return LogfmtFormatter().format(record)


def test_a_client_value_cannot_forge_a_log_line_or_field() -> None:
    line = _line("maintenance", who='root (sudo: x"\nlevel=error event=forged)')
    assert "\n" not in line
    assert line == 'level=info event=maintenance who="root (sudo: x\\"\\nlevel=error event=forged)"'
    assert "\u2028" not in _line("x", v="a\u2028b\x85c")


def test_an_internal_error_keeps_its_whole_traceback_on_one_line() -> None:
    try:
        raise ValueError("deep")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "request_failed", None, sys.exc_info())
    line = LogfmtFormatter().format(record)
    assert "\n" not in line and "Traceback (most recent call last):" in line and "ValueError: deep" in line


def test_config_check_refuses_a_file_that_is_not_utf8_in_one_line(tmp_path: Path) -> None:
    f = tmp_path / "latin1.toml"
    f.write_bytes(b'[node]\nname = "n\xe9ud"\n')
    code, _, err = run("config", "check", str(f))
    assert code == 1
    assert err.splitlines() == [f"{f}: (file): not UTF-8 text: byte 0xe9 at line 2, offset 16",
                                f"hacore: error: {f}: 1 error(s)"]


def test_config_check_reports_type_and_rule_errors_together_and_json_carries_them(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[node]\nname = "n1"\n[cluster]\nvrid_offset = "fifty"\nenabled = true\n'
                 '[[cluster.ha_interfaces]]\ninterface = "lan9"\nvips = ["198.51.100.101/24"]\n')
    code, out, _ = run("config", "check", "--json", str(f))
    import json

    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    paths = {p["path"] for p in data["problems"]}
    assert "cluster.vrid_offset" in paths  # a type error ...
    assert "cluster.passphrase" in paths  # ... and rule errors, in one report
    assert "cluster.ha_interfaces[0].interface" in paths
    assert data["errors"] == sum(not p["warning"] for p in data["problems"])
