"""What the two ends of configuration sync say to each other, apart from SSH:
the versions that travel in each exchange, the limits of a request, the
one error type.

Rules: nothing here imports asyncssh, so the daemon and the CLI name a sync
error without loading the SSH stack (hacore.configsync.endpoint does, once
a node has keys to sync with).
"""

from __future__ import annotations

from typing import Any

from hacore import __version__
from hacore.config.model import SCHEMA_VERSION

PROTOCOL_VERSION = 1
MAX_REQUEST = 1 << 20  # a start configuration is a few kB; more is not one
REQUEST_TIMEOUT_S = 20.0
CONNECT_TIMEOUT_S = 5.0
COMMANDS = ("hacore-sync hello", "hacore-sync apply")


class SyncError(Exception):
    """Config sync failed; str() is the one line to show, naming the side at fault."""


def versions() -> dict[str, Any]:
    return {"hacore": __version__, "schema": SCHEMA_VERSION, "protocol": PROTOCOL_VERSION}


def version_problem(ours: dict[str, Any], theirs: Any, peer: str) -> str:
    """Why config sync cannot go on between these versions ("" if it can)."""
    if not isinstance(theirs, dict):
        return "the peer sent no versions"
    if theirs.get("protocol") != PROTOCOL_VERSION:
        return (f"sync protocol {theirs.get('protocol')!r} on {peer}, {PROTOCOL_VERSION} here: "
                "upgrade the older node")
    if theirs.get("schema") != ours["schema"]:
        older = peer if (theirs.get("schema") or 0) < ours["schema"] else "this node"
        return (f"config schema {theirs.get('schema')!r} on {peer} (hacore {theirs.get('hacore')}), "
                f"{ours['schema']} here (hacore {ours['hacore']}): upgrade {older}; failover and conntrack "
                "sync go on meanwhile")
    return ""
