"""The control commands and the schema of their arguments, shared by the
daemon (which refuses a request that does not fit, with one line) and the
CLI (which checks before it sends).

Rules: pure, standard library only. Arguments are flat: strings (bounded,
maybe from a fixed set) and booleans; JSON's true is never a string and
"1" is never a boolean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SchemaError(ValueError):
    """A request that does not fit its command's schema; str() is the line to show."""


@dataclass(frozen=True)
class Arg:
    kind: type  # str or bool
    required: bool = True
    max_len: int = 128
    choices: tuple[str, ...] = ()


NAME = Arg(str, max_len=64)
OPTIONAL_NAME = Arg(str, required=False, max_len=64)
COMMON = {"sudo_user": Arg(str, required=False, max_len=64)}  # who ran the CLI through sudo, for the records

COMMANDS: dict[str, dict[str, Arg]] = {
    "info": {},
    "history": {},
    "services": {},
    "maintenance.set": {"value": Arg(str, choices=("0", "1")), "force": Arg(bool, required=False)},
    "cluster.enable": {"value": Arg(str, choices=("0", "1")), "force": Arg(bool, required=False)},
    "interface.set": {"name": NAME, "flags": Arg(str, max_len=256)},
    "wizard.apply": {"answers": Arg(str, max_len=16384), "dry_run": Arg(bool, required=False)},
    "extc.get": {"variable": NAME},
    "extc.set": {"variable": NAME, "value": Arg(str, max_len=32)},
    "config.save": {"name": NAME},
    "config.list": {},
    "config.load": {"name": NAME},
    "config.rollback": {"revision": Arg(str, required=False, max_len=16)},
    "config.diff": {"a": OPTIONAL_NAME, "b": OPTIONAL_NAME},
    "config.sync": {"dry_run": Arg(bool, required=False), "force": Arg(bool, required=False)},
    "config.sync_state": {},
    "sshkey.generate": {"type": Arg(str, required=False, choices=("ed25519", "rsa")),
                        "force": Arg(bool, required=False)},
    "sshkey.show": {},
    "sshkey.set_remote": {"key": Arg(str, max_len=4096)},
}


def check(cmd: Any, args: Any) -> dict[str, Any]:
    """The arguments of a valid request, or SchemaError saying what is wrong."""
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        shown = repr(cmd) if isinstance(cmd, str) and len(cmd) <= 64 else f"of type {type(cmd).__name__}"
        raise SchemaError(f"unknown command {shown} (known: {', '.join(sorted(COMMANDS))})")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise SchemaError(f"{cmd}: args must be an object, got {type(args).__name__}")
    schema = COMMANDS[cmd] | COMMON
    for key in args:
        if key not in schema:
            known = ", ".join(sorted(COMMANDS[cmd])) or "none"
            raise SchemaError(f"{cmd}: unknown argument {str(key)[:64]!r} (known: {known})")
    out: dict[str, Any] = {}
    for key, arg in schema.items():
        value = args.get(key)
        if value is None:
            if arg.required:
                raise SchemaError(f"{cmd}: argument {key!r} is required")
            continue
        if type(value) is not arg.kind:
            raise SchemaError(f"{cmd}: argument {key!r} must be a {arg.kind.__name__}, "
                              f"got {type(value).__name__}")
        if isinstance(value, str) and len(value) > arg.max_len:
            raise SchemaError(f"{cmd}: argument {key!r} is longer than {arg.max_len} characters")
        if arg.choices and value not in arg.choices:
            raise SchemaError(f"{cmd}: argument {key!r} must be one of {', '.join(arg.choices)}, got {value!r}")
        out[key] = value
    return out
