"""The hacore command line: a thin click tree, one control request per command.

Rules: rendering lives in render.py, the shared plumbing in clikit.py;
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
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import click

from hacore.cli import render
from hacore.cli.kit import Failure, command, fail
from hacore.config.parse import ConfigError, decode
from hacore.control.protocol import DEFAULT_SOCKET, request

SOCKET_ENV = "HACORE_SOCKET"
PLUGINS = "hacore.commands"  # entry-point group: verbs another distribution adds (the lab: `lab`, `bench`)


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=PLUGINS)}


class Tree(click.Group):
    """The top group: verbs from other distributions (hacore_lab) are imported only when named, so
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


def _ask(ctx: click.Context, cmd: str, **args: Any) -> Any:
    args["sudo_user"] = os.environ.get("SUDO_USER")
    return request(ctx.obj["socket"], cmd, **args)


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


@command(cluster, "services")
def cluster_services(ctx: click.Context) -> tuple[Any, str]:
    """Applications that follow the master: each one's desired and actual state."""
    data = _ask(ctx, "services")
    return data, render.services(data)


@cluster.group("maintenance")
def maintenance() -> None:
    """Maintenance mode: a controlled switchover to the spare (persistent)."""


cluster.add_command(maintenance, "maintainance")  # the seed's spelling


@command(maintenance, "set")
@click.argument("words", nargs=-1, required=True, metavar="[value] 1|0")
@click.option("--force", is_flag=True,
              help="set it even when the peer is not a healthy backup (the VIPs stay until one can take them)")
def maintenance_set(ctx: click.Context, words: tuple[str, ...], force: bool) -> tuple[Any, str]:
    """1: hand over to the spare and stay backup (also across restarts); 0: take part again.

    The seed's own line works too: cluster maintainance set value "1"."""
    value = words[1:] if words[:1] == ("value",) else words
    if len(value) != 1 or value[0] not in ("0", "1"):
        raise Failure(f"maintenance set takes 1 or 0 (optionally after 'value'), got {' '.join(words)!r}")
    data = _ask(ctx, "maintenance.set", value=value[0], force=force)
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
    """List saved configurations and the revisions the start one replaced (@N, for load and rollback);
    `start` marks the one the daemon runs."""
    data = _ask(ctx, "config.list")
    return data, render.config_list(data)


@command(system_config, "load")
@click.argument("name")
def config_load(ctx: click.Context, name: str) -> tuple[Any, str]:
    """Make NAME the start configuration and run it."""
    data = _ask(ctx, "config.load", name=name)
    return data, "\n".join([*data["warnings"], f"loaded {data['name']} ({data['digest']}): {data['how']}"])


@command(system_config, "rollback")
@click.argument("revision", required=False)
def config_rollback(ctx: click.Context, revision: str | None) -> tuple[Any, str]:
    """Run a configuration the start one replaced again: REVISION (e.g. @3) or, without it, the newest.

    The one it replaces is kept as a revision in turn, so a rollback can be rolled back."""
    data = _ask(ctx, "config.rollback", revision=revision)
    return data, "\n".join([*data["warnings"], f"loaded {data['name']} ({data['digest']}): {data['how']}"])


@command(system_config, "diff")
@click.argument("a", required=False)
@click.argument("b", required=False)
def config_diff(ctx: click.Context, a: str | None, b: str | None) -> tuple[Any, str]:
    """Differences between A and B: names, `start` or revisions @N (default: the last saved one and `start`)."""
    data = _ask(ctx, "config.diff", a=a, b=b)
    return data, data["diff"] or "no differences"


@command(system_config, "synchronize")
@click.option("--dry-run", is_flag=True, help="show what the peer would apply, change nothing")
@click.option("--force", is_flag=True, help="overwrite the peer's own changes (a conflict)")
def config_synchronize(ctx: click.Context, dry_run: bool, force: bool) -> tuple[Any, str]:
    """Send this node's start configuration to the peer over SSH on the hotwire.

    The peer keeps its node-local settings and takes the opposite priority."""
    data = _ask(ctx, "config.sync", dry_run=dry_run, force=force)
    if dry_run:
        return data, f"{data['node']} would apply (and become {data['priority']}):\n{data['diff']}".rstrip()
    return data, (f"synchronized: {data['node']} runs revision {data['digest'][:12]} "
                  f"with priority {data['priority']}")


@command(system_config, "sync-state")
def config_sync_state(ctx: click.Context) -> tuple[Any, str]:
    """Ask the peer now: synchronized, pending (which sections differ) or error (why)."""
    data = _ask(ctx, "config.sync_state")
    return data, render.sync_state(data)


@cluster.group("ssh-key")
def ssh_key() -> None:
    """The SSH keys of config sync (the seed's set-up: exchange the public keys)."""


@command(ssh_key, "generate")
@click.option("--type", "kind", type=click.Choice(["ed25519", "rsa"]), default="ed25519", show_default=True)
@click.option("--force", is_flag=True, help="replace an existing key (the peer then needs the new one)")
def ssh_key_generate(ctx: click.Context, kind: str, force: bool) -> tuple[Any, str]:
    """Make this node's key pair; prints the public key to paste into the peer."""
    data = _ask(ctx, "sshkey.generate", type=kind, force=force)
    return data, data["public_key"]


@command(ssh_key, "show")
def ssh_key_show(ctx: click.Context) -> tuple[Any, str]:
    """This node's public key: paste it into the peer's `cluster ssh-key set-remote`."""
    data = _ask(ctx, "sshkey.show")
    return data, data["public_key"]


@command(ssh_key, "set-remote")
@click.argument("key", nargs=-1, required=True)
def ssh_key_set_remote(ctx: click.Context, key: tuple[str, ...]) -> tuple[Any, str]:
    """Pin the peer's public key (KEY: the line its `ssh-key show` prints; `-` reads it from stdin)."""
    line = click.get_text_stream("stdin").read() if key == ("-",) else " ".join(key)
    data = _ask(ctx, "sshkey.set_remote", key=line.strip())
    return data, f"remote key set: {data['remote_fingerprint']}"


def main() -> None:
    cli(prog_name="hacore")
