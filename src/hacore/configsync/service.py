"""Config sync as the daemon runs it: the endpoint on the hotwire, pushing this
node's start configuration to the peer, receiving the peer's, and the
sync_state the seed shows (error -> pending -> synchronized).

Rules: a received configuration is staged before anything changes: it must
parse, its merge with this node's local settings must validate, nftables
must accept the rules it renders (a dry run), and its shared settings must
hash to the digest the sender announced. Then the daemon applies it with a
snapshot to fall back on; every failure goes back to the sender's CLI. When
both nodes changed since their last common revision, sync refuses with
`conflict` unless forced. The state is refreshed every REFRESH_S and on
demand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from ipaddress import ip_interface
from pathlib import Path
from typing import Any

from hacore import statefile
from hacore.config.model import Config
from hacore.config.parse import ConfigError, digest
from hacore.config.validate import check
from hacore.configsync import merge
from hacore.configsync.endpoint import Server, SyncError, call
from hacore.configsync.sshkeys import KeyFiles, SshKeyError
from hacore.effects.nft import NftError, NftReconciler
from hacore.logfmt import log

logger = logging.getLogger("hacore.configsync")
REFRESH_S = 10.0


def _record_ok(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(v.get(k), str) for k in ("common", "direction", "peer")) and \
        isinstance(v.get("when"), (int, float))


class ConfigSync:
    def __init__(self, state_dir: Path, cfg: Callable[[], Config], text: Callable[[], str],
                 apply_text: Callable[[str, str, str], Awaitable[Config]]):
        self.keys = KeyFiles(state_dir / "ssh")
        self.record_path = state_dir / "configsync.json"
        self.cfg = cfg  # the running configuration, as the daemon has it now
        self.text = text
        self.apply_text = apply_text  # (text, who, why) -> the running config; raises on failure (rolled back)
        self.server = Server(self.keys, self._hello, self._receive)
        self.state = "error"
        self.reason = "not checked yet"
        self.sections: list[str] = []
        self.server_error = ""
        self._lock = asyncio.Lock()  # one sync at a time, either direction

    # -- the endpoint --------------------------------------------------------------

    def _where(self) -> tuple[str, str, int]:
        hw = self.cfg().cluster.hotwire
        local = str(ip_interface(hw.local_address).ip) if hw.local_address else ""
        return local, hw.remote_address, self.cfg().cluster.sync.ssh_port

    async def ensure_server(self) -> None:
        """Listen on the hotwire address once there is one, and a key; say why not otherwise."""
        local, _remote, port = self._where()
        if not local:
            self.server_error = "no hotwire configured"
            return
        if self.server.bound == f"{local}:{port}":
            return
        try:
            await self.server.start(local, port)
        except SshKeyError as exc:
            self.server_error = str(exc)
            return
        except OSError as exc:
            self.server_error = f"cannot listen on {local}:{port}: {exc.strerror or exc}"
            if self.server_error != getattr(self, "_logged", ""):
                log(logger, "sync_listen_failed", logging.WARNING, error=self.server_error)
                self._logged = self.server_error
            return
        self.server_error = ""
        log(logger, "sync_listening", address=f"{local}:{port}")

    async def run(self) -> None:
        while True:
            await self.ensure_server()
            await self.refresh()
            await asyncio.sleep(REFRESH_S)

    async def stop(self) -> None:
        await self.server.stop()

    def _hello(self) -> dict[str, Any]:
        cfg = self.cfg()
        return {"node": cfg.node.name, "digest": digest(cfg), "text": self.text(), "common": self.common()}

    # -- state ---------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        return statefile.load(self.record_path, _record_ok, {})

    def common(self) -> str:
        return str(self.record().get("common", ""))

    def _remember(self, common: str, direction: str, peer: str) -> None:
        statefile.save(self.record_path, {"common": common, "when": time.time(), "direction": direction,
                                          "peer": peer})

    async def refresh(self) -> dict[str, Any]:
        """Ask the peer for its digest; sets and returns the state."""
        _local, remote, port = self._where()
        if not remote:
            self._set("error", "no hotwire configured")
        elif not all(self.keys.status().values()):
            missing = [k for k, v in self.keys.status().items() if not v]
            self._set("error", f"SSH keys not exchanged ({' and '.join(missing)} key missing)")
        else:
            try:
                peer = await call(self.keys, remote, port, "hacore-sync hello", {})
            except SyncError as exc:
                self._set("error", str(exc))
            else:
                if not peer.get("ok"):
                    self._set("error", str(peer.get("error", "the peer refused")))
                elif peer.get("digest") == digest(self.cfg()):
                    self._set("synchronized", "")
                else:
                    theirs = self._parse(peer.get("text"))
                    self.sections = merge.sections(self.cfg(), theirs) if theirs else []
                    self._set("pending", "shared settings differ" + (f": {', '.join(self.sections)}"
                                                                      if self.sections else ""))
        return self.info()

    def _set(self, state: str, reason: str) -> None:
        if state != "pending":
            self.sections = []
        if (state, reason) != (self.state, self.reason):
            log(logger, "sync_state", state=state, reason=reason or "-")
        self.state, self.reason = state, reason

    @staticmethod
    def _parse(text: Any) -> Config | None:
        try:
            return check(text)[0] if isinstance(text, str) else None
        except ConfigError:
            return None

    def info(self) -> dict[str, Any]:
        rec = self.record()
        return {"sync_state": self.state, "sync_reason": self.reason, "ssh_keys": self.keys.status(),
                "sync_endpoint": self.server.bound or f"not listening: {self.server_error}",
                "last_sync": ({k: rec[k] for k in ("when", "direction", "peer")} | {"revision": rec["common"][:12]}
                              if rec else {})}

    # -- pushing -----------------------------------------------------------------------------

    async def push(self, who: str, dry_run: bool, force: bool) -> dict[str, Any]:
        """Send this node's start configuration to the peer (or, dry, what the peer would apply)."""
        _local, remote, port = self._where()
        if not remote:
            raise SyncError("no hotwire configured: nothing to synchronise with")
        cfg = self.cfg()
        req = {"text": self.text(), "digest": digest(cfg), "common": self.common(), "node": cfg.node.name,
               "who": who, "dry_run": dry_run, "force": force}
        async with self._lock:
            reply = await call(self.keys, remote, port, "hacore-sync apply", req)
        if not reply.get("ok"):
            raise SyncError(f"the peer refused: {reply.get('error', 'no reason given')}")
        if not dry_run:
            self._remember(digest(cfg), "sent", str(reply.get("node", "")))
            self._set("synchronized", "")
            log(logger, "config_synchronized", direction="sent", revision=digest(cfg)[:12], who=who)
        return reply

    # -- receiving ---------------------------------------------------------------------------

    async def _receive(self, req: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            try:
                return await self._stage_and_apply(req)
            except (SyncError, ConfigError, NftError) as exc:
                text = "; ".join(str(p) for p in exc.problems if not p.warning) if isinstance(exc, ConfigError) \
                    else str(exc)
                log(logger, "sync_refused", logging.WARNING, error=text)
                return {"ok": False, "error": text, "node": self.cfg().node.name}

    async def _stage_and_apply(self, req: dict[str, Any]) -> dict[str, Any]:
        ours = self.cfg()
        try:
            theirs, _ = check(str(req.get("text", "")))
        except ConfigError as exc:
            raise SyncError("the configuration sent is invalid: "
                            + "; ".join(str(p) for p in exc.problems if not p.warning)) from None
        text, kept = merge.merge(theirs, ours)
        try:
            staged, _ = check(text)
        except ConfigError as exc:
            raise SyncError(f"it would be invalid on {ours.node.name}: "
                            + "; ".join(str(p) for p in exc.problems if not p.warning)) from None
        if digest(staged) != req.get("digest"):
            raise SyncError("the shared settings do not hash to the digest the sender announced")
        common = self.common()  # both nodes record the same revision when a sync succeeds
        we_changed, they_changed = digest(ours) != common, req.get("digest") != common
        if common and we_changed and they_changed and digest(ours) != req.get("digest") and not req.get("force"):
            raise SyncError(f"conflict: both nodes changed since their last common revision {common[:12]}; "
                            f"--force replaces {ours.node.name}'s changes")
        await asyncio.to_thread(NftReconciler(staged).dry_run, False)
        changes = merge.diff(ours, staged, kept, ours.node.name, f"{ours.node.name} after the sync")
        if req.get("dry_run"):
            return {"ok": True, "node": ours.node.name, "dry_run": True, "diff": changes,
                    "priority": staged.node.priority.value}
        sender = str(req.get("node", "the peer"))
        who, before = f"{req.get('who', '?')}@{sender}", self.text()
        try:
            running = await self.apply_text(text, who, f"config sync from {sender}")
            if digest(running) != req.get("digest"):
                await self.apply_text(before, who, "config sync rolled back")
                raise SyncError("the applied configuration does not hash to the sender's digest")
        except SyncError:
            raise
        except Exception as exc:
            raise SyncError(f"applying failed on {ours.node.name}, its previous configuration is back: {exc}") \
                from None
        self._remember(digest(running), "received", sender)
        self._set("synchronized", "")
        log(logger, "config_synchronized", direction="received", revision=digest(running)[:12], sender=sender)
        return {"ok": True, "node": ours.node.name, "digest": digest(running), "diff": changes,
                "priority": running.node.priority.value}
