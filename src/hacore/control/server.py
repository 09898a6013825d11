"""The daemon's end of the control protocol (hacore.control.protocol): a
Unix socket born 0600, one request line per connection, one reply line.

Rules: client input never stops the server: a request that does not fit the
schema, is too long or too slow is refused in one line and counted; a bug in
a handler becomes "internal error" (the log keeps the traceback). Only the
socket this server made is ever removed, and a live server on the path is
never taken over.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import pwd
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hacore.config.parse import ConfigError
from hacore.control.protocol import MAX_REQUEST, decode_request, encode
from hacore.control.schema import SchemaError
from hacore.support.counters import Schema, Spec
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.daemon")
REQUEST_TIMEOUT_S = 5.0
COUNTERS = Schema("control", Spec("bad_requests", "control requests refused (malformed, too long, too slow, refused)"))


class Refused(Exception):
    """A request the daemon refuses; str() is the one line that goes back to the CLI."""


class Busy(Exception):
    """Another server answers on the socket path; str() is the one line to log."""


class ControlServer:
    def __init__(self, path: Path, handlers: dict[str, Callable[..., Any]],
                 on_done: Callable[[str, OSError | None], None]):
        self.path = path
        self.handlers = handlers
        self.on_done = on_done  # (command, the OSError that stopped it or None): the daemon's disk state
        self.counters = COUNTERS.new()
        self._server: asyncio.AbstractServer | None = None
        self._ino: int | None = None

    def claim(self) -> None:
        """Remove a stale socket; Busy beside a live daemon."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.path))
        except OSError:
            self.path.unlink()
        else:
            raise Busy(f"another hacore daemon is listening on {self.path}")
        finally:
            probe.close()

    async def start(self) -> None:
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            self._server = await asyncio.start_unix_server(self._client, path=str(self.path), limit=MAX_REQUEST)
        finally:
            os.umask(old_umask)
        self._ino = self.path.stat().st_ino

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        try:  # unlink the socket only if it is still the one we made (another daemon may own the path now)
            if self.path.stat().st_ino == self._ino:
                self.path.unlink()
        except FileNotFoundError:
            pass

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            reply = await self._answer(reader, writer)
        except ConnectionError:  # the client went away: nobody to answer
            writer.close()
            return
        try:
            writer.write(encode(reply))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, Any]:
        cmd = "-"
        try:
            who = _peer_name(writer.get_extra_info("socket"))
            line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
            cmd, args = decode_request(line)
            sudo = args.pop("sudo_user", None)
            caller = f"{who} (sudo: {sudo})" if sudo and sudo != who else who
            data = self.handlers[cmd](who=caller, **args)
            if inspect.isawaitable(data):
                data = await data
            self.on_done(cmd, None)
            return {"ok": True, "data": data}
        except ConfigError as exc:
            return {"ok": False, "error": "; ".join(str(p) for p in exc.problems if not p.warning)}
        except (Refused, SchemaError) as exc:
            self.counters.inc("bad_requests")
            return {"ok": False, "error": str(exc)}
        except (ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            self.counters.inc("bad_requests")
            return {"ok": False, "error": f"a request is one line of at most {MAX_REQUEST} bytes"}
        except TimeoutError:
            self.counters.inc("bad_requests")
            return {"ok": False, "error": f"no request within {REQUEST_TIMEOUT_S:g} s"}
        except ConnectionError:
            raise
        except OSError as exc:  # a full disk, a read-only state directory: say what and where
            log(logger, "request_failed", logging.ERROR, error=exc.strerror or repr(exc), file=exc.filename or "-")
            self.on_done(cmd, exc)
            return {"ok": False, "error": f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
                    + "; nothing was changed"}
        except Exception as exc:  # a bug must not take the daemon down; the log keeps the traceback
            logger.exception("request_failed")
            return {"ok": False, "error": f"internal error ({type(exc).__name__}): see the daemon's log"}


def _peer_name(sock: socket.socket | None) -> str:
    if sock is None:
        return "unknown"
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
