"""Configuration sync on the wire: an asyncssh server inside the daemon, bound
to the hotwire address only, and the client that talks to the peer's.

Rules: the server answers only the peer's hotwire address, and bounds
connections that have not authenticated in number and time. It accepts one client key (the peer's, pinned with
set-remote) and the client trusts one host key (the same): nothing is
trusted on first use. It offers exactly two exec commands, `hacore-sync
hello` and `hacore-sync apply`; shells, PTYs, forwarding of ports, agents
and X11 are refused. A request is one JSON document read to its end and
checked for its length; one cut short is never acted on. Every reply is one
JSON document; the versions of both ends travel in each exchange, and a
config schema mismatch is refused with the node that must be upgraded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from ipaddress import ip_address
from typing import Any

import asyncssh

from hacore.configsync.exchange import (
    COMMANDS,
    CONNECT_TIMEOUT_S,
    MAX_REQUEST,
    REQUEST_TIMEOUT_S,
    SyncError,
    version_problem,
    versions,
)
from hacore.configsync.sshkeys import KeyFiles, SshKeyError
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.configsync")
USER = "hacore"
LOGIN_GRACE_S = 10.0  # an unauthenticated connection is closed after this (OpenSSH's LoginGraceTime)
MAX_STARTUPS = 10  # unauthenticated connections at once; more are closed at once (OpenSSH's MaxStartups)


class _Server(asyncssh.SSHServer):
    """One connection: from the peer's hotwire address only, authenticated within LOGIN_GRACE_S, and no
    more than MAX_STARTUPS of them unauthenticated at once (OpenSSH's LoginGraceTime and MaxStartups)."""

    def __init__(self, owner: Server):
        self.owner = owner
        self.keys = owner.keys
        self._conn: asyncssh.SSHServerConnection | None = None
        self._grace: asyncio.TimerHandle | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = (conn.get_extra_info("peername") or ("",))[0]
        allowed = self.owner.peer()
        if not _same_address(peer, allowed):
            self.owner.refused += 1
            log(logger, "sync_stranger", logging.WARNING, source=peer, allowed=allowed or "-")
            conn.abort()
            return
        if self.owner.starting >= MAX_STARTUPS:
            self.owner.refused += 1
            conn.abort()
            return
        self.owner.starting += 1
        self._grace = asyncio.get_running_loop().call_later(LOGIN_GRACE_S, conn.abort)

    def auth_completed(self) -> None:
        self._settled()

    def connection_lost(self, exc: Exception | None) -> None:
        self._settled()

    def _settled(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
            self.owner.starting -= 1

    def begin_auth(self, username: str) -> bool:
        return True  # every client authenticates

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        try:  # read each time: set-remote takes effect without a restart
            return key.public_data == self.keys.remote_key().public_data
        except SshKeyError:
            return False


def _same_address(a: str, b: str) -> bool:
    try:
        return ip_address(a) == ip_address(b)
    except ValueError:
        return False


class Server:
    def __init__(self, keys: KeyFiles, peer: Callable[[], str],
                 hello: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
                 apply: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]):
        self.keys = keys
        self.peer = peer  # the only address a connection may come from: the peer's on the hotwire
        self.hello = hello
        self.apply = apply
        self.refused = 0
        self.starting = 0  # connections not yet authenticated
        self._server: asyncssh.SSHAcceptor | None = None
        self.bound = ""

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port only; raises OSError or SshKeyError with the reason."""
        await self.stop()
        self._server = await asyncssh.create_server(
            lambda: _Server(self), host, port, server_host_keys=[self.keys.local_key()],
            process_factory=self._process, encoding=None, allow_pty=False, agent_forwarding=False,
            x11_forwarding=False, line_editor=False, login_timeout=LOGIN_GRACE_S, keepalive_interval=10)
        self.bound = f"{host}:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            self.bound = ""

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        try:
            if process.command not in COMMANDS:
                self.refused += 1
                process.stderr.write(b"hacore offers only its sync operations\n")
                process.exit(2)
                return
            raw = await asyncio.wait_for(process.stdin.read(MAX_REQUEST + 1), REQUEST_TIMEOUT_S)
            reply = await self._answer(process.command, raw)
        except (TimeoutError, asyncssh.Error, ConnectionError) as exc:
            log(logger, "sync_request_dropped", logging.WARNING, reason=type(exc).__name__)
            process.exit(1)
            return
        process.stdout.write(json.dumps(reply).encode())
        process.exit(0 if reply.get("ok") else 1)

    async def _answer(self, command: str, raw: bytes) -> dict[str, Any]:
        if len(raw) > MAX_REQUEST:
            return {"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"}
        try:
            req = json.loads(raw)
            if not isinstance(req, dict) or req.get("length") != len(req.get("text", "")):
                raise ValueError("incomplete")
        except ValueError:
            return {"ok": False, "error": "the request was cut short or is not one JSON document: nothing done"}
        problem = version_problem(versions(), req.get("versions"), "the sending node")
        if problem:
            return {"ok": False, "error": problem, "versions": versions()}
        if command == "hacore-sync hello":
            return {"ok": True, **(await self.hello(req))}
        return await self.apply(req)


async def call(keys: KeyFiles, host: str, port: int, command: str, req: dict[str, Any],
               timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
    """One request to the peer; raises SyncError saying what went wrong and where."""
    body = {**req, "versions": versions(), "length": len(req.get("text", ""))}
    where, step, began = f"{host}:{port}", "connecting", time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            async with asyncssh.connect(
                    host, port, username=USER, client_keys=[keys.local_key()],
                    known_hosts=([keys.remote_key()], [], []), config=(), agent_path=None,
                    connect_timeout=CONNECT_TIMEOUT_S, login_timeout=CONNECT_TIMEOUT_S,
                    preferred_auth="publickey") as conn:
                step = f"answering {command!r}"
                done = await conn.run(command, input=json.dumps(body).encode(), encoding=None, check=False)
    except SshKeyError as exc:
        raise SyncError(str(exc)) from None
    except asyncssh.HostKeyNotVerifiable:
        raise SyncError(f"{where} presented a host key that is not the pinned remote key: "
                        "set-remote the peer's current `hacore cluster ssh-key show`") from None
    except asyncssh.PermissionDenied:
        raise SyncError(f"{where} refused this node's key: paste this node's `hacore cluster ssh-key show` "
                        "into the peer's `hacore cluster ssh-key set-remote`") from None
    except TimeoutError:
        # asyncssh's own connect timeout raises the same: say which step it was and how long it took
        raise SyncError(f"{where} did not answer within {time.monotonic() - began:.0f} s ({step})") from None
    except (OSError, asyncssh.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SyncError(f"peer unreachable on the hotwire ({where}): {reason}") from None
    try:
        reply = json.loads(done.stdout or b"")
    except ValueError:
        err = _text(done.stderr).strip()
        raise SyncError(f"{where} gave no answer ({err or f'exit {done.exit_status}'})") from None
    if not isinstance(reply, dict):
        raise SyncError(f"{where} answered with something other than a JSON object")
    return reply


def _text(out: bytes | str | None) -> str:
    """A process's output as text, however asyncssh handed it over."""
    return out.decode(errors="replace") if isinstance(out, bytes) else out or ""
