"""The hacore command line: a thin click tree, one control request per command.

Rules: rendering lives in render.py; errors are one line on stderr and a
non-zero exit; every command takes --json (an error then also prints
{"error": ...} on stdout).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from hacore import render
from hacore.config.parse import ConfigError
from hacore.control import DEFAULT_SOCKET, ControlError, request

SOCKET_ENV = "HACORE_SOCKET"


class Failure(Exception):
    """What the user did or met that stops the command; str() is the line to show."""


def command(group: click.Group, name: str | None = None, **kw: Any) -> Callable[..., Any]:
    """A subcommand of group with --json, turning known failures into one line."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @group.command(name, **kw)
        @click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
        @click.pass_context
        @wraps(fn)
        def run(ctx: click.Context, as_json: bool, **args: Any) -> None:
            try:
                data, text = fn(ctx, **args)
            except (ControlError, Failure) as exc:
                _fail(str(exc), as_json)
            except ConfigError as exc:
                _fail("; ".join(str(p) for p in exc.problems if not p.warning), as_json)
            click.echo(json.dumps(data, indent=2, default=str) if as_json else text)

        return run

    return wrap


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"error": message}))
    click.echo(f"hacore: error: {message}", err=True)
    sys.exit(1)


def _ask(ctx: click.Context, cmd: str, **args: Any) -> Any:
    args["sudo_user"] = os.environ.get("SUDO_USER")
    return request(ctx.obj["socket"], cmd, **args)


@click.group()
@click.option("-s", "--socket", "sock", type=click.Path(path_type=Path), envvar=SOCKET_ENV,
              default=DEFAULT_SOCKET, show_default=True, help=f"daemon control socket (env {SOCKET_ENV})")
@click.pass_context
def cli(ctx: click.Context, sock: Path) -> None:
    """hacore: hot-standby cluster for Linux firewalls."""
    ctx.obj = {"socket": sock}


@cli.command()
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("/etc/hacore/hacore.toml"), show_default=True, help="start configuration")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("/var/lib/hacore"), show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
@click.pass_context
def daemon(ctx: click.Context, config_path: Path, state_dir: Path, verbose: bool) -> None:
    """Run the cluster daemon of this node in the foreground (logs to stderr)."""
    from hacore import daemon as d
    from hacore import logfmt

    logfmt.setup(logging.DEBUG if verbose else logging.INFO)
    if not config_path.exists():
        click.echo(f"hacore: error: no configuration at {config_path}", err=True)
        sys.exit(2)
    sys.exit(d.main(config_path, state_dir, ctx.obj["socket"]))


# -- config -----------------------------------------------------------------

@cli.group()
def config() -> None:
    """Check configuration files."""


@command(config, "check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def config_check(ctx: click.Context, file: Path) -> tuple[Any, str]:
    """Validate FILE: print every problem with its path; non-zero exit on errors."""
    from hacore.config.validate import check

    try:
        text = file.read_text()
    except OSError as exc:
        raise Failure(f"cannot read {file}: {exc.strerror}") from None
    try:
        _, warnings = check(text)
    except ConfigError as exc:
        for p in exc.problems:
            click.echo(f"{file}: {p}", err=True)
        raise Failure(f"{file}: {sum(not p.warning for p in exc.problems)} error(s)") from None
    lines = [f"{file}: {w}" for w in warnings] + [f"{file}: ok"]
    return {"file": str(file), "ok": True, "warnings": [str(w) for w in warnings]}, "\n".join(lines)


# -- cluster ----------------------------------------------------------------

@cli.group()
def cluster() -> None:
    """Cluster state and control."""


@command(cluster, "info")
def cluster_info(ctx: click.Context) -> tuple[Any, str]:
    """The seed's attribute|value table: state, sync, hotwire, maintenance, and more."""
    data = _ask(ctx, "info")
    return data, render.info(data)


@command(cluster, "history")
def cluster_history(ctx: click.Context) -> tuple[Any, str]:
    """Role changes: when, old -> new, and why (kept across restarts)."""
    data = _ask(ctx, "history")
    return data, render.history(data)


@cluster.group("maintenance")
def maintenance() -> None:
    """Maintenance mode: a controlled switchover to the spare (persistent)."""


cluster.add_command(maintenance, "maintainance")  # the seed's spelling


@command(maintenance, "set")
@click.argument("value", type=click.Choice(["1", "0"]))
@click.option("--force", is_flag=True, help="switch even when the peer is not a healthy backup")
def maintenance_set(ctx: click.Context, value: str, force: bool) -> tuple[Any, str]:
    """1: hand over to the spare and stay backup (also across restarts); 0: take part again."""
    data = _ask(ctx, "maintenance.set", value=value, force=force)
    return data, "OK"


# -- extc -------------------------------------------------------------------

@cli.group()
def extc() -> None:
    """Tunables, live (UPDATE_TRIGGER_DELAY: the failover delay in seconds)."""


@command(extc, "get")
@click.argument("variable")
def extc_get(ctx: click.Context, variable: str) -> tuple[Any, str]:
    """Show VARIABLE."""
    data = _ask(ctx, "extc.get", variable=variable)
    return data, f"Value |{render.value_text(data['value'])}"


@command(extc, "set", context_settings={"ignore_unknown_options": True})  # so "-1" is a value to refuse
@click.argument("variable")
@click.argument("value")
def extc_set(ctx: click.Context, variable: str, value: str) -> tuple[Any, str]:
    """Set VARIABLE to VALUE, live and persisted in the start configuration."""
    data = _ask(ctx, "extc.set", variable=variable, value=value)
    return data, "\n".join([*data["warnings"], "OK"])


# -- system config ----------------------------------------------------------

@cli.group()
def system() -> None:
    """System commands."""


@system.group("config")
def system_config() -> None:
    """Named configurations, with history."""


@command(system_config, "save")
@click.option("--name", required=True, help="name of the configuration")
def config_save(ctx: click.Context, name: str) -> tuple[Any, str]:
    """Save the running configuration as NAME."""
    data = _ask(ctx, "config.save", name=name)
    return data, f"saved {data['name']} ({data['digest']})"


@command(system_config, "list")
def config_list(ctx: click.Context) -> tuple[Any, str]:
    """List saved configurations; `start` marks the one the daemon runs."""
    data = _ask(ctx, "config.list")
    return data, render.config_list(data)


@command(system_config, "load")
@click.argument("name")
def config_load(ctx: click.Context, name: str) -> tuple[Any, str]:
    """Make NAME the start configuration and run it."""
    data = _ask(ctx, "config.load", name=name)
    return data, "\n".join([*data["warnings"], f"loaded {data['name']} ({data['digest']})"])


@command(system_config, "diff")
@click.argument("a", required=False)
@click.argument("b", required=False)
def config_diff(ctx: click.Context, a: str | None, b: str | None) -> tuple[Any, str]:
    """Differences between A and B (default: the last saved one and `start`)."""
    data = _ask(ctx, "config.diff", a=a, b=b)
    return data, data["diff"] or "no differences"


def main() -> None:
    from hacore.lab.cli import bench, lab

    cli.add_command(lab)
    cli.add_command(bench)
    cli(prog_name="hacore")
