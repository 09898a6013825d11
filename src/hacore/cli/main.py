"""The hacore command line: a thin click tree, one control request per command.

Rules: rendering lives in render.py, the shared plumbing in kit.py, the
verbs that ask the daemon in cluster.py and system.py (only through the
control protocol); the daemon, cleanup and cluster wizard verbs run locally;
errors are one line on stderr and a non-zero exit; every command takes
--json (an error then also prints {"error": ...} on stdout). Verbs of
other distributions (the lab's `lab` and `bench`) come in through the
`hacore.commands` entry points and are imported only when they are run.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import click

from hacore.cli import wizard
from hacore.cli.cluster import cluster, extc, interface
from hacore.cli.kit import Failure, fail
from hacore.cli.system import system
from hacore.config.parse import ConfigError, decode
from hacore.control.protocol import DEFAULT_SOCKET
from hacore.web.command import web

SOCKET_ENV = "HACORE_SOCKET"
PLUGINS = "hacore.commands"  # entry-point group: verbs another distribution adds (the lab: `lab`, `bench`)


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=PLUGINS)}


class Tree(click.Group):
    """The top group: verbs from other distributions (the lab) are imported only when named, so
    `hacore daemon` never loads them, and the product works where they are not installed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugins()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        own = super().get_command(ctx, name)
        if own is not None:
            return own
        ep = _plugins().get(name)
        return ep.load() if ep is not None else None


def read_text(path: Path) -> str:
    """A file the user named, as text; Failure in one line (missing, not root, not UTF-8)."""
    try:
        data = path.read_bytes()
    except PermissionError:
        raise Failure(f"permission denied: {path}: run as root") from None
    except OSError as exc:
        raise Failure(f"cannot read {path}: {exc.strerror}") from None
    return decode(data)


@click.group(cls=Tree)
@click.option("-s", "--socket", "sock", type=click.Path(path_type=Path), envvar=SOCKET_ENV,
              default=DEFAULT_SOCKET, show_default=True, help=f"daemon control socket (env {SOCKET_ENV})")
@click.pass_context
def cli(ctx: click.Context, sock: Path) -> None:
    """hacore: hot-standby cluster for Linux firewalls."""
    ctx.obj = {"socket": sock}


def node_files(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The daemon's start configuration and state directory (the clean-up verb reads the same ones)."""
    fn = click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False, readable=False, writable=False),
                      default=Path("/var/lib/hacore"), show_default=True)(fn)
    return click.option("-c", "--config", "config_path",
                        type=click.Path(path_type=Path, dir_okay=False, readable=False),
                        default=Path("/etc/hacore/hacore.toml"), show_default=True, help="start configuration")(fn)


@cli.command()
@node_files
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
@click.pass_context
def daemon(ctx: click.Context, config_path: Path, state_dir: Path, verbose: bool) -> None:
    """Run the cluster daemon of this node in the foreground (logs to stderr)."""
    from hacore.node import daemon as d
    from hacore.support import logfmt

    logfmt.setup(logging.DEBUG if verbose else logging.INFO)
    if os.geteuid() != 0:
        click.echo("hacore: error: permission denied: the daemon needs netlink and raw sockets: run as root",
                   err=True)
        sys.exit(2)
    if not config_path.exists():
        click.echo(f"hacore: error: no configuration at {config_path}", err=True)
        sys.exit(2)
    sys.exit(d.main(config_path, state_dir, ctx.obj["socket"]))


@cli.command()
@node_files
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
@click.pass_context
def cleanup(ctx: click.Context, config_path: Path, state_dir: Path, as_json: bool) -> None:
    """Release what a crashed master left: applications, interfaces, NAT from a VIP, the VIPs
    (refused while a daemon runs).

    The systemd unit runs it as ExecStopPost=, so a kill -9 or an OOM kill
    never leaves a second node answering for the VIPs."""
    from hacore.config.validate import check
    from hacore.effects import cleanup as c

    if os.geteuid() != 0:
        fail("permission denied: removing addresses needs root", as_json, code=2)
    try:
        cfg, _ = check(read_text(config_path))
        data = c.run(cfg, state_dir, config_path, ctx.obj["socket"])
    except (Failure, c.Refused) as exc:
        fail(str(exc), as_json)
    except ConfigError as exc:
        fail(f"{config_path}: " + "; ".join(str(p) for p in exc.problems if not p.warning), as_json)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        lines = [f"stopped {a.split()[0]}" for a in data["stopped"]]
        lines += [f"set {n} down" for n in data["interfaces_down"]]
        lines += ["rewrote hacore's nftables table (no traffic sent from a VIP)"] if data["nat_rules_rewritten"] else []
        lines += [f"removed {v}" for v in data["removed"]] or ["no VIPs to remove"]
        click.echo("\n".join([*lines, *(f"hacore: error: {v}: {why}" for v, why in data["failed"].items())]))
    sys.exit(1 if data["failed"] else 0)


# -- config -----------------------------------------------------------------

@cli.group()
def config() -> None:
    """Check configuration files."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, readable=False))
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def config_check(file: Path, as_json: bool) -> None:
    """Validate FILE: print every problem with its path; non-zero exit on errors."""
    from hacore.config.validate import check

    try:
        _, problems = check(read_text(file))
    except Failure as exc:
        fail(str(exc), as_json, {"file": str(file), "ok": False, "problems": []})
    except ConfigError as exc:
        problems = exc.problems
    errors = sum(not p.warning for p in problems)
    if as_json:
        click.echo(json.dumps({"file": str(file), "ok": not errors, "errors": errors, "problems": [
            {"path": p.path, "message": p.message, "warning": p.warning} for p in problems]}, indent=2))
    else:
        click.echo("\n".join([*(f"{file}: {p}" for p in problems), f"hacore: error: {file}: {errors} error(s)"
                               if errors else f"{file}: ok"]), err=bool(errors))
    sys.exit(1 if errors else 0)


# -- cluster ----------------------------------------------------------------

wizard.register(cluster)  # a local verb: it writes the files the daemon starts from
cli.add_command(cluster)
cli.add_command(extc)
cli.add_command(interface)
cli.add_command(web)
cli.add_command(system)


def main() -> None:
    # asyncssh keeps DSA keys importable; cryptography warns about it at import, on every start, into
    # stderr (and into --json output captured with 2>&1). hacore never uses DSA.
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    cli(prog_name="hacore")
