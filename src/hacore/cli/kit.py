"""What every hacore command shares: --json, one-line errors, a non-zero exit,
and the one way to ask the daemon (the control protocol's client).

Rules: click and the control client only; no command here. Both the main
CLI and the lab's commands build on it (neither imports the other).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from hacore.config.parse import ConfigError
from hacore.control.protocol import ControlError, request


def ask(ctx: click.Context, cmd: str, **args: Any) -> Any:
    """One control request to the daemon on the --socket of the top group; its data, or ControlError."""
    args["sudo_user"] = os.environ.get("SUDO_USER")
    return request(ctx.obj["socket"], cmd, **args)


class Failure(Exception):
    """What the user did or met that stops the command; str() is the line to show."""


def command(group: click.Group, name: str | None = None, **kw: Any) -> Callable[..., Any]:
    """A subcommand of group with --json; fn returns (data, text) and raises Failure for one-line errors."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @group.command(name, **kw)
        @click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
        @click.pass_context  # type: ignore[arg-type]  # click reads the wrapper's own signature
        @wraps(fn)
        def run(ctx: click.Context, as_json: bool, **args: Any) -> None:
            try:
                data, text = fn(ctx, **args)
            except (ControlError, Failure) as exc:
                fail(str(exc), as_json)
            except ConfigError as exc:
                fail("; ".join(str(p) for p in exc.problems if not p.warning), as_json)
            click.echo(json.dumps(data, indent=2, default=str) if as_json else text)

        return run

    return wrap


def fail(message: str, as_json: bool, data: dict[str, Any] | None = None, code: int = 1) -> None:
    if as_json:
        click.echo(json.dumps({"error": message, **(data or {})}, indent=2))
    click.echo(f"hacore: error: {message}", err=True)
    sys.exit(code)
