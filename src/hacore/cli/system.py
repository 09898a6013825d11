"""`hacore system config ...`: named configurations, revisions, diffs and
the synchronize to the peer; one control request per command.

Rules: the daemon is reached only through the control protocol
(hacore.control); text comes from hacore.cli.render.
"""

from __future__ import annotations

from typing import Any

import click

from hacore.cli import render
from hacore.cli.kit import Failure, ask, command


@click.group()
def system() -> None:
    """System commands."""


@system.group("config")
def system_config() -> None:
    """Named configurations, with history."""


@command(system_config, "save")
@click.option("--name", help="name of the configuration")
@click.argument("words", nargs=-1, metavar="[name NAME]")
def config_save(ctx: click.Context, name: str | None, words: tuple[str, ...]) -> tuple[Any, str]:
    """Save the running configuration as NAME (--name NAME, or the seed's line: system config save name NAME)."""
    if words:
        if len(words) != 2 or words[0] != "name" or name is not None:
            raise Failure(f"save takes --name NAME or the seed's 'name NAME', got {' '.join(words)!r}")
        name = words[1]
    if not name:
        raise Failure("save needs a name: --name NAME (or the seed's 'name NAME')")
    data = ask(ctx, "config.save", name=name)
    return data, f"saved {data['name']} ({data['digest']})"


@command(system_config, "list")
def config_list(ctx: click.Context) -> tuple[Any, str]:
    """List saved configurations and the revisions the start one replaced (@N, for load and rollback);
    `start` marks the one the daemon runs."""
    data = ask(ctx, "config.list")
    return data, render.config_list(data)


@command(system_config, "load")
@click.argument("name")
def config_load(ctx: click.Context, name: str) -> tuple[Any, str]:
    """Make NAME the start configuration and run it."""
    data = ask(ctx, "config.load", name=name)
    return data, "\n".join([*data["warnings"], f"loaded {data['name']} ({data['digest']}): {data['how']}"])


@command(system_config, "rollback")
@click.argument("revision", required=False)
def config_rollback(ctx: click.Context, revision: str | None) -> tuple[Any, str]:
    """Run a configuration the start one replaced again: REVISION (e.g. @3) or, without it, the newest.

    The one it replaces is kept as a revision in turn, so a rollback can be rolled back."""
    data = ask(ctx, "config.rollback", revision=revision)
    return data, "\n".join([*data["warnings"], f"loaded {data['name']} ({data['digest']}): {data['how']}"])


@command(system_config, "diff")
@click.argument("a", required=False)
@click.argument("b", required=False)
def config_diff(ctx: click.Context, a: str | None, b: str | None) -> tuple[Any, str]:
    """Differences between A and B: names, `start` or revisions @N (default: the last saved one and `start`)."""
    data = ask(ctx, "config.diff", a=a, b=b)
    return data, data["diff"] or "no differences"


@command(system_config, "synchronize")
@click.option("--dry-run", is_flag=True, help="show what the peer would apply, change nothing")
@click.option("--force", is_flag=True, help="overwrite the peer's own changes (a conflict)")
def config_synchronize(ctx: click.Context, dry_run: bool, force: bool) -> tuple[Any, str]:
    """Send this node's start configuration to the peer over SSH on the hotwire.

    The peer keeps its node-local settings and takes the opposite priority."""
    data = ask(ctx, "config.sync", dry_run=dry_run, force=force)
    if dry_run:
        return data, f"{data['node']} would apply (and become {data['priority']}):\n{data['diff']}".rstrip()
    return data, (f"synchronized: {data['node']} runs revision {data['digest'][:12]} "
                  f"with priority {data['priority']}")


@command(system_config, "sync-state")
def config_sync_state(ctx: click.Context) -> tuple[Any, str]:
    """Ask the peer now: synchronized, pending (which sections differ) or error (why)."""
    data = ask(ctx, "config.sync_state")
    return data, render.sync_state(data)
