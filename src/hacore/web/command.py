"""`hacore web serve | passwd`: the web console, a process of its own beside
the daemon, and its users.

Rules: local verbs (they read the configuration and the state directory);
the console itself reaches the daemon only through the control socket.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from hacore.cli.kit import Failure, command


@click.group("web")
def web() -> None:
    """The web console (off until node.web.address is set): status, history, actions."""


@command(web, "passwd")
@click.argument("user")
@click.option("--state-dir", type=click.Path(path_type=Path), default="/var/lib/hacore", show_default=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input (for scripts)")
def web_passwd(ctx: click.Context, user: str, state_dir: Path, password_stdin: bool) -> tuple[Any, str]:
    """Set a console user's password (stored as a scrypt hash; at least 12 characters)."""
    from hacore.web import serve, users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        users.set_password(serve.users_path(state_dir), user, password)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    return {"user": user, "file": str(serve.users_path(state_dir))}, "OK"


@command(web, "serve")
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), default="/etc/hacore/hacore.toml",
              show_default=True)
@click.option("--state-dir", type=click.Path(path_type=Path), default="/var/lib/hacore", show_default=True)
@click.option("--cert", type=click.Path(path_type=Path, dir_okay=False), help="PEM certificate (default: a "
              "self-signed one made in the state directory)")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False), help="its PEM key")
@click.option("--session-idle", "idle_s", type=click.FloatRange(1, 86400), default=900, show_default=True,
              help="seconds a session lives unused")
def web_serve(ctx: click.Context, config_path: Path, state_dir: Path, cert: Path | None,
              key: Path | None, idle_s: float) -> tuple[Any, str]:
    """Serve the console over HTTPS on node.web's address (foreground; it asks the daemon on --socket)."""
    from hacore.config.parse import decode
    from hacore.config.validate import check
    from hacore.support import logfmt
    from hacore.web import serve

    logfmt.setup()
    try:
        cfg, _ = check(decode(config_path.read_bytes()))
    except OSError as exc:
        raise Failure(f"cannot read {config_path}: {exc.strerror}") from None
    try:
        asyncio.run(serve.serve(cfg, state_dir, ctx.find_root().obj["socket"], cert, key, idle_s))
    except serve.ServeError as exc:
        raise Failure(str(exc)) from None
    return {"stopped": True}, "stopped"
