"""The node's running configuration: the start file as loaded, its
revisions, and the node it runs (hacore.node.root); every change of it goes
through apply_text.

Rules: a configuration is validated before anything changes and kept as a
revision before it is replaced; applied live where it can, by a restart of
the node (which hands over first) where it must, and rolled back whole - the
previous one written back and running again - when anything fails; slow work
(key derivation, fsync) runs on threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hacore.config import live
from hacore.config.model import Config
from hacore.config.parse import decode, digest
from hacore.config.store import Store
from hacore.config.validate import check
from hacore.control.server import Refused
from hacore.node.history import History
from hacore.node.root import Node
from hacore.security.keys import derive
from hacore.support import statefile
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.daemon")


class StartError(Exception):
    """The daemon cannot start; str() is the one line to log."""


def read_config(path: Path) -> str:
    try:
        return decode(path.read_bytes())
    except OSError as exc:
        raise StartError(f"cannot read {path}: {exc.strerror}") from None


class Running:
    def __init__(self, config_path: Path, state_dir: Path):
        self.state_dir = state_dir
        self.store = Store(state_dir, config_path)
        self.text = read_config(config_path)
        self.cfg, warnings = check(self.text)
        for w in warnings:
            log(logger, "config_warning", logging.WARNING, path=w.path, problem=w.message)
        self.history = History(state_dir / "roles.json")
        self.node: Node | None = None
        self.started = False  # the daemon has started (a node started after that has no start to settle)
        self.last_apply = ""
        self.on_applied: Callable[[], Awaitable[None]] | None = None  # after every change, kept or rolled back

    def runtime(self) -> dict[str, Any]:
        """Runtime state kept across restarts (maintenance); a damaged file is set aside."""
        return statefile.load(self.state_dir / "runtime.json",
                              lambda v: isinstance(v, dict) and isinstance(v.get("maintenance", False), bool), {})

    # -- the running configuration --------------------------------------------------------------

    def run_text(self, text: str, who: str, why: str) -> list[str]:
        """Make text (already validated and stored) the running configuration."""
        cfg, warnings = check(text)
        old = self.cfg
        self.text, self.cfg = text, cfg
        log(logger, "config_applied", why=why, who=who, old_digest=digest(old)[:12], new_digest=digest(cfg)[:12])
        return [str(w) for w in warnings]

    async def apply_text(self, text: str, who: str, why: str, peer_has_it: bool = False) -> Config:
        """Make text (validated) the start and the running configuration, changing only what differs, live
        where it can; the one it replaces is kept as a revision. On any failure the previous one is written
        back and running again (the failed one kept as a revision too), and the error raised in one line."""
        old_text, old = self.text, self.cfg
        await asyncio.to_thread(self.store.replace_start, text, old_text, who, why)
        try:
            self.run_text(text, who, why)
            self.last_apply = await self._reconfigure(old, self.cfg, peer_has_it=peer_has_it)
        except Exception as exc:
            log(logger, "config_apply_failed", logging.ERROR, why=why, error=repr(exc))
            kept = await asyncio.to_thread(self.store.replace_start, old_text, text, who, f"rollback of {why}")
            self.run_text(old_text, who, f"rollback of {why}")
            await self._reconfigure(self.cfg, old, force_restart=True)
            reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise Refused(f"{why} failed, the configuration that ran before runs again"
                          + (f" (the failed one is kept as @{kept.rev})" if kept else "")
                          + f": {reason or type(exc).__name__}") from None
        finally:
            if self.on_applied is not None:
                await self.on_applied()
        return self.cfg

    async def _reconfigure(self, old: Config, new: Config, force_restart: bool = False,
                           peer_has_it: bool = False) -> str:
        """Bring the running cluster to new: live when only live settings differ, else a restart."""
        changed = live.changes(old, new)
        if not changed and not force_restart:
            return "nothing to change"
        hard = [] if force_restart else live.needs_restart(changed, old, new)
        if self.node is None or self.node.election.machine is None or hard or force_restart:
            if self.node is None and not new.cluster.ha_interfaces:
                return "no cluster configured"
            log(logger, "election_restart", reason="restart needed for " + (", ".join(hard[:5]) or "a rollback"))
            await self.restart_node()
            return "restarted the election for " + (", ".join(hard[:5]) or "a rollback")
        await self.node.reconfigure(new)
        if live.rekeys(changed):  # peer_has_it: a synchronize from the peer brought them
            self.node.keys.rekey(await asyncio.to_thread(derive, new.cluster), peer_has_it)
        return "applied live: " + ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")

    async def start_node(self) -> None:
        """Run the cluster if it is configured; what is missing from the kernel is waited for."""
        if not self.cfg.cluster.ha_interfaces:
            return
        keys = await asyncio.to_thread(derive, self.cfg.cluster)  # PBKDF2: 50-100 ms, not on the loop
        node = Node(self.cfg, self.history, bool(self.runtime().get("maintenance", False)), self.state_dir, keys)
        self.node = node
        await node.start()
        if self.started:
            node.spare_loop.settled()

    def start_done(self) -> None:
        """The daemon has started: what it did once at its start is behind it."""
        self.started = True
        if self.node is not None:
            self.node.spare_loop.settled()

    async def restart_node(self) -> None:
        if self.node is not None:
            log(logger, "election_restart", reason="cluster configuration changed")
        await self.stop_node()
        await self.start_node()

    async def stop_node(self) -> None:
        if self.node is not None:
            await self.node.stop()
            self.node = None
