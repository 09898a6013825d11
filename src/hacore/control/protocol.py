"""The control protocol between CLI and daemon: one JSON request, one JSON reply.

Over a Unix socket (0600, root). A request is {"cmd": str, "args": {...}} on
one line; the reply is {"ok": true, "data": ...} or {"ok": false, "error": str}.
Framing only: what a command may carry is hacore.control.schema'. The client turns
every failure into ControlError with one line for the user.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from hacore.control.schema import SchemaError, check

DEFAULT_SOCKET = Path("/run/hacore/control.sock")
MAX_REQUEST = 64 * 1024
TIMEOUT_S = 10.0
# Requests that talk to the peer and may apply a configuration there (a restart hands over first).
SLOW_TIMEOUT_S = {"config.sync": 60.0, "config.sync_state": 30.0, "config.load": 30.0}


class ControlError(Exception):
    """A request that failed; str() is the one line to show."""


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def decode_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """A request line to (cmd, args); SchemaError with one line for anything else."""
    if not line.endswith(b"\n"):
        raise SchemaError("a request is one line of JSON, ended by a newline")
    try:
        req = json.loads(line)
    except (ValueError, RecursionError):
        raise SchemaError("a request must be JSON: {\"cmd\": str, \"args\": {...}}") from None
    if not isinstance(req, dict) or set(req) - {"cmd", "args"}:
        raise SchemaError("a request is {\"cmd\": str, \"args\": {...}} and nothing else")
    cmd = req.get("cmd")
    args = check(cmd, req.get("args"))
    assert isinstance(cmd, str)  # check() refused anything else
    return cmd, args


def request(sock_path: Path, cmd: str, **args: Any) -> Any:
    """Send one request and return its data, or raise ControlError."""
    try:
        args = check(cmd, args)
    except SchemaError as exc:
        raise ControlError(str(exc)) from None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(SLOW_TIMEOUT_S.get(cmd, TIMEOUT_S))
    try:
        try:
            s.connect(str(sock_path))
        except FileNotFoundError:
            raise ControlError(f"the hacore daemon is not running (no socket at {sock_path})") from None
        except ConnectionRefusedError:
            raise ControlError(f"the hacore daemon is not running (nobody listens on {sock_path})") from None
        except PermissionError:
            raise ControlError(f"permission denied on {sock_path}: run as root") from None
        s.sendall(encode({"cmd": cmd, "args": args}))
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except TimeoutError:
        raise ControlError(f"the hacore daemon did not answer within {TIMEOUT_S:g} s") from None
    except ConnectionError:
        raise ControlError(f"the hacore daemon closed the connection on {sock_path} without an answer") from None
    finally:
        s.close()
    try:
        reply = json.loads(buf)
    except ValueError:
        raise ControlError("the hacore daemon sent a malformed reply") from None
    if not reply.get("ok"):
        raise ControlError(reply.get("error") or "request failed")
    return reply.get("data")
