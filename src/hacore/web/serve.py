"""`hacore web serve`: the console on the address node.web names, over TLS.

Rules: its own process (the daemon never imports aiohttp); refuses to start
without a configured address, without a user, or with a certificate it
cannot load, each in one line; the self-signed certificate's fingerprint is
logged so the operator can compare it with what the browser shows.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from hacore.config.model import Config
from hacore.support.logfmt import log
from hacore.web import tls, users
from hacore.web.app import Console

logger = logging.getLogger("hacore.web")


class ServeError(Exception):
    """Why the console does not start; str() is the one line to show."""


def users_path(state_dir: Path) -> Path:
    return state_dir / "web" / "users.json"


async def serve(cfg: Config, state_dir: Path, socket_path: Path, cert: Path | None, key: Path | None,
                idle_s: float) -> None:
    w = cfg.node.web
    if not w.address:
        raise ServeError("node.web.address is not set: the console is off (set it, `hacore config check`)")
    if not users.load(users_path(state_dir)):
        raise ServeError("no console user yet: `hacore web passwd USER` first")
    if (cert is None) != (key is None):
        raise ServeError("--cert and --key go together")
    if cert is None or key is None:
        cert, key = tls.self_signed(state_dir / "web", w.address, cfg.node.name)
    try:
        context = tls.context(cert, key)
    except (OSError, ValueError) as exc:
        raise ServeError(f"cannot load the certificate {cert}: {exc}") from None
    runner = web.AppRunner(Console(socket_path, users_path(state_dir), idle_s).app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, w.address, w.port, ssl_context=context).start()
    except OSError as exc:
        await runner.cleanup()
        raise ServeError(f"cannot listen on {w.address}:{w.port}: {exc.strerror or exc}") from None
    host = f"[{w.address}]" if ":" in w.address else w.address
    log(logger, "web_listening", url=f"https://{host}:{w.port}/", fingerprint=tls.fingerprint(cert))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    log(logger, "web_stopped")
