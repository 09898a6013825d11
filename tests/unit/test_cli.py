"""The CLI without a daemon: config check, one-line errors, --json, the seed's table shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hacore.cli import render
from hacore.cli.main import cli
from hacore.config.store import set_value
from tests.unit.lab_config import NODE1


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_config_check_accepts_a_valid_file(tmp_path: Path) -> None:
    f = tmp_path / "ok.toml"
    f.write_text(NODE1)
    code, out, _ = run("config", "check", str(f))
    assert code == 0
    assert out.strip() == f"{f}: ok"


def test_config_check_lists_every_error_and_fails(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(set_value(set_value(NODE1, ("cluster", "vrid_offset"), 255), ("cluster", "passphrase"), ""))
    code, _, err = run("config", "check", str(f))
    assert code == 1
    lines = err.strip().splitlines()
    assert f"{f}: cluster.passphrase: required with auth 'hmac'" in lines
    assert f"{f}: cluster.vrid_offset: VRID 256 of cluster.ha_interfaces[1] is outside 1..255" in lines
    assert lines[-1] == f"hacore: error: {f}: 2 error(s)"


def test_config_check_shows_warnings_but_passes(tmp_path: Path) -> None:
    f = tmp_path / "fast.toml"
    f.write_text(set_value(NODE1, ("cluster", "update_trigger_delay_s"), 0.6))
    code, out, _ = run("config", "check", str(f))
    assert code == 0
    assert "warning: cluster.update_trigger_delay_s: 0.6 s is below the safe floor" in out


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    code, _, err = run("config", "check", str(tmp_path / "nope.toml"))
    assert code == 1
    assert err == f"hacore: error: cannot read {tmp_path / 'nope.toml'}: No such file or directory\n"


def test_no_daemon_is_one_clear_line(tmp_path: Path) -> None:
    sock = tmp_path / "none.sock"
    code, _, err = run("--socket", str(sock), "cluster", "info")
    assert code == 1
    assert err == f"hacore: error: the hacore daemon is not running (no socket at {sock})\n"


def test_json_errors_are_json_too(tmp_path: Path) -> None:
    sock = tmp_path / "none.sock"
    code, out, _ = run("--socket", str(sock), "extc", "get", "UPDATE_TRIGGER_DELAY", "--json")
    assert code == 1
    assert json.loads(out) == {"error": f"the hacore daemon is not running (no socket at {sock})"}


SEED_ROWS = {"cluster_state": "backup", "sync_state": "synchronized", "hotwire_dev": "eth2", "maintenance": True,
             "maintainance": True}


def test_info_table_has_the_seed_shape_and_names() -> None:
    assert render.info(SEED_ROWS).splitlines() == [  # the seed's own example, spelling and all
        "attribute    |value",
        "-------------+------------",
        "cluster_state|backup",
        "sync_state   |synchronized",
        "hotwire_dev  |eth2",
        "maintainance |true",
    ]


@pytest.mark.parametrize(("key", "value", "ansi"), [
    ("sync_state", "synchronized", "\x1b[32m"), ("sync_state", "pending", "\x1b[33m"),
    ("sync_state", "error", "\x1b[31m"), ("cluster_state", "none", "\x1b[90m"),
    ("cluster_state", "master", "\x1b[32m")])
def test_a_terminal_sees_the_seeds_colours_and_a_pipe_plain_text(key: str, value: str, ansi: str) -> None:
    data = SEED_ROWS | {key: value}
    coloured = render.info(data, colour=True).splitlines()
    row = next(line for line in coloured if line.startswith(key))
    assert row.endswith(f"{ansi}{value}\x1b[0m")
    assert "\x1b" not in render.info(data)
    # The layout does not move: the escape codes are outside the column widths.
    assert [line.split("|")[0] for line in coloured] == [line.split("|")[0] for line in render.info(data).splitlines()]


def test_held_vips_are_told_from_configured_ones() -> None:
    text = render.info({"vips": {"lan1": ["198.51.100.101/24"]}, "vips_held": {}})
    rows = dict(line.split("|", 1) for line in text.splitlines()[2:])
    assert rows["vips     "] == "lan1: 198.51.100.101/24" and rows["vips_held"] == "-"


def test_info_table_explains_the_rank_of_both_nodes() -> None:
    text = render.info({
        "cluster_state": "backup", "split_brain": False,
        "rank": {"self": {"links_up": 1, "ping_ok": True, "priority_class": "high", "priority": 28,
                          "demotion": "link down lan1", "maintenance": False},
                 "peer": {"seen": True, "node": "node2", "role": "master", "priority": 51, "maintenance": False,
                          "links_up": 2, "ping_ok": True, "priority_class": "low"}}})
    rows = dict(line.split("|", 1) for line in text.splitlines()[2:])
    assert rows["rank         "] == "1 HA links up, ping check ok, high -> VRRP priority 28; demoted: link down lan1"
    assert rows["peer_rank    "] == "node2 master: 2 HA links up, ping check ok, low -> VRRP priority 51"
    assert rows["split_brain  "] == "false"


def test_info_table_says_how_whole_the_conntrack_copy_is() -> None:
    master = {"role": "master", "flows": 12, "peer_complete": True, "lag_ms": 0.4, "resyncs": 1, "retransmits": 3,
              "drops": {}}
    backup = {"role": "backup", "flows": 12, "complete": False, "gap_requests": 2, "drops": {"bad_auth": 5}}
    off = {"role": "off", "error": "conntrack sync is switched off"}
    rows = [dict(line.split("|", 1) for line in render.info({"sync": s}).splitlines()[2:])["conntrack_sync"]
            for s in (master, backup, off)]
    assert rows == ["sending: 12 flows, peer complete, lag 0.4 ms, 1 resyncs, 3 retransmits",
                    "receiving: 12 flows, incomplete, 2 gap requests, 5 datagrams dropped",
                    "off (conntrack sync is switched off)"]


def test_the_readme_example_configuration_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    f = tmp_path / "readme.toml"
    f.write_text(block)
    code, out, err = run("config", "check", str(f))
    assert (code, out.strip(), err) == (0, f"{f}: ok", "")


def test_maintenance_takes_the_seeds_own_syntax(tmp_path: Path) -> None:
    sock = str(tmp_path / "none.sock")
    for words in (["value", "1"], ["1"], ["value", "0"]):
        code, _, err = run("--socket", sock, "cluster", "maintainance", "set", *words)
        assert code == 1 and "the hacore daemon is not running" in err  # parsed, then sent
    code, _, err = run("--socket", sock, "cluster", "maintainance", "set", "value", "2")
    assert code == 1 and "maintenance set takes 1 or 0 (optionally after 'value'), got 'value 2'" in err


def test_the_seeds_lines_are_parsed_and_wrong_ones_refused_in_one_line(tmp_path: Path) -> None:
    sock = str(tmp_path / "none.sock")
    no_daemon = f"hacore: error: the hacore daemon is not running (no socket at {sock})\n"
    seed = ("application", "securepoint_firewall", "variable", "UPDATE_TRIGGER_DELAY")
    assert run("--socket", sock, "extc", "value", "get", *seed)[2] == no_daemon  # parsed, then asked
    assert run("--socket", sock, "extc", "value", "set", *seed, "value", "2")[2] == no_daemon
    assert run("--socket", sock, "system", "config", "save", "name", "x")[2] == no_daemon
    assert run("--socket", sock, "cluster", "maintainance", "set", "value", "1")[2] == no_daemon
    code, _, err = run("--socket", sock, "extc", "value", "get", "application", "other", "variable", "X")
    assert code == 1 and err == "hacore: error: unknown application 'other' (known: securepoint_firewall)\n"
    code, _, err = run("--socket", sock, "extc", "value", "set", *seed)
    assert code == 1 and err == "hacore: error: missing value\n"
    code, _, err = run("--socket", sock, "system", "config", "save", "nome", "x")
    assert code == 1 and "save takes --name NAME or the seed's 'name NAME'" in err


def test_help_lists_one_spelling_of_maintenance() -> None:
    _, out, _ = run("cluster", "--help")
    assert "maintenance" in out and "maintainance" not in out



def test_a_console_user_gets_a_hashed_password_in_a_private_file_and_a_short_one_is_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    short = runner.invoke(cli, ["web", "passwd", "admin", "--state-dir", str(tmp_path), "--password-stdin"],
                          input="short\n")
    assert short.exit_code == 1 and "password refused: at least 12 characters" in short.output
    ok = runner.invoke(cli, ["web", "passwd", "admin", "--state-dir", str(tmp_path), "--password-stdin"],
                       input="a long enough secret\n")
    assert ok.exit_code == 0, ok.output
    users = tmp_path / "web" / "users.json"
    assert users.stat().st_mode & 0o777 == 0o600
    assert "a long enough secret" not in users.read_text() and '"admin":"scrypt$' in users.read_text()
