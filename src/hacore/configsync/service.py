"""Config sync as the daemon runs it: the endpoint on the hotwire, pushing this
node's start configuration to the peer, receiving the peer's, and the
sync_state the seed shows (error -> pending -> synchronized).

Rules: a received configuration is staged before anything changes: it must
parse, its merge with this node's local settings must validate, this node
must be able to stand by with it (standby.py), nftables must accept the
rules it renders (a dry run), and its shared settings must hash to the
digest the sender announced. Then the daemon applies it with a snapshot to
fall back on; every failure goes back to the sender's CLI. A synchronize that
would revert the receiver's newer change, or one where both changed, is
refused unless forced (conflict.py reads that from content). One synchronize at a time
per pair: a node busy with one refuses another at once, either direction.
The state is refreshed every REFRESH_S and on demand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from ipaddress import ip_interface
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hacore.config.model import Config
from hacore.config.parse import ConfigError, digest
from hacore.config.store import Store
from hacore.configsync import conflict, merge, standby
from hacore.configsync.exchange import SyncError
from hacore.configsync.sshkeys import KeyFiles, SshKeyError
from hacore.effects.nft import NftError, NftReconciler
from hacore.support import statefile
from hacore.support.logfmt import log

if TYPE_CHECKING:
    from hacore.configsync.endpoint import Server

logger = logging.getLogger("hacore.configsync")
REFRESH_S = 10.0


def _record_ok(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(v.get(k), str) for k in ("common", "direction", "peer")) and \
        isinstance(v.get("when"), (int, float))


async def call(keys: KeyFiles, host: str, port: int, command: str, req: dict[str, Any]) -> dict[str, Any]:
    """hacore.configsync.endpoint's call, imported when a node first talks to its peer (keys exist then)."""
    from hacore.configsync import endpoint

    return await endpoint.call(keys, host, port, command, req)


MAX_KNOWN = 1000  # digests sent with a request: the newest ones are the ones that decide


class ConfigSync:
    def __init__(self, state_dir: Path, cfg: Callable[[], Config], text: Callable[[], str],
                 apply_text: Callable[[str, str, str, bool], Awaitable[Config]], store: Store):
        self.keys = KeyFiles(state_dir / "ssh")
        self.record_path = state_dir / "configsync.json"
        self.cfg = cfg  # the running configuration, as the daemon has it now
        self.text = text
        # (text, who, why, from the peer) -> the running config; raises on failure (rolled back)
        self.apply_text = apply_text
        self.store = store
        self.server: Server | None = None  # made with the first key: it loads the SSH stack
        self.state = "error"
        self.reason = "not checked yet"
        self.sections: list[str] = []
        self.server_error = ""
        self._lock = asyncio.Lock()  # one sync at a time, either direction
        self._busy = ""  # what holds the lock, for the one refused

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
        if self.server is not None and self.server.bound == f"{local}:{port}":
            return
        if not self.keys.private.exists():
            self.server_error = "no local key: `hacore cluster ssh-key generate` first"
            return
        if self.server is None:
            from hacore.configsync.endpoint import Server

            self.server = Server(self.keys, lambda: self.cfg().cluster.hotwire.remote_address, self._hello,
                                 self._receive)
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
        if self.server is not None:
            await self.server.stop()

    async def _hello(self, req: dict[str, Any]) -> dict[str, Any]:
        """Who this node is and what it runs; with the asker's configuration, whether this node could
        stand by with it."""
        cfg = self.cfg()
        out: dict[str, Any] = {"node": cfg.node.name, "digest": digest(cfg), "text": self.text()}
        if isinstance(req.get("text"), str) and req["text"]:
            try:
                out["standby"] = await self._standby(self._staged(req["text"])[0])
            except SyncError as exc:
                out["standby"] = [str(exc)]
        return out

    async def _standby(self, staged: Config) -> list[str]:
        return standby.problems(staged, await standby.facts(staged), self.cfg())

    def _staged(self, text: str) -> tuple[Config, str, list[str]]:
        try:
            return merge.stage(text, self.cfg())
        except merge.Unfit as exc:
            raise SyncError(str(exc)) from None

    def known(self) -> list[str]:
        """Digests of the configurations this node has run, the running one first."""
        return [digest(self.cfg()), *self.store.known_digests()][:MAX_KNOWN]

    # -- state ---------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        return statefile.load(self.record_path, _record_ok, {})

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
                peer = await call(self.keys, remote, port, "hacore-sync hello", {"text": self.text()})
            except SyncError as exc:
                self._set("error", str(exc))
            else:
                theirs = merge.parse(peer.get("text"))
                said = peer.get("standby")
                why_not = ([str(w)[:200] for w in said] if isinstance(said, list) else []) \
                    or await self._could_not_run(peer.get("text"))
                if not peer.get("ok"):
                    self._set("error", str(peer.get("error", "the peer refused")))
                elif why_not:
                    self._set("error", "; ".join(why_not[:3]))
                elif peer.get("digest") == digest(self.cfg()):
                    self._set("synchronized", "")
                else:
                    self.sections = merge.sections(self.cfg(), theirs) if theirs else []
                    self._set("pending", "shared settings differ" + (f": {', '.join(self.sections)}"
                                                                      if self.sections else ""))
        return self.info()

    async def _could_not_run(self, text: Any) -> list[str]:
        """Why this node could not stand by with the peer's configuration (a synchronize from there)."""
        theirs = merge.parse(text)
        if theirs is None or digest(self.cfg()) == digest(theirs):
            return []
        try:
            return await self._standby(self._staged(text)[0])
        except SyncError:
            return []  # the peer's own text is the peer's business until it is sent

    def _set(self, state: str, reason: str) -> None:
        if state != "pending":
            self.sections = []
        if (state, reason) != (self.state, self.reason):
            log(logger, "sync_state", state=state, reason=reason or "-")
        self.state, self.reason = state, reason

    def info(self) -> dict[str, Any]:
        rec = self.record()
        return {"sync_state": self.state, "sync_reason": self.reason, "ssh_keys": self.keys.status(),
                "sync_endpoint": (self.server and self.server.bound) or f"not listening: {self.server_error}",
                "last_sync": ({k: rec[k] for k in ("when", "direction", "peer")} | {"revision": rec["common"][:12]}
                              if rec else {})}

    # -- pushing -----------------------------------------------------------------------------

    async def push(self, who: str, dry_run: bool, force: bool) -> dict[str, Any]:
        """Send this node's start configuration to the peer (or, dry, what the peer would apply)."""
        _local, remote, port = self._where()
        if not remote:
            raise SyncError("no hotwire configured: nothing to synchronise with")
        if self._lock.locked():
            raise SyncError(f"{self.cfg().node.name} is busy: {self._busy}; try again when it is done")
        async with self._lock:
            cfg = self.cfg()
            self._busy = f"sending to the peer, started by {who}"
            await asyncio.to_thread(self.store.check_unloaded, self.text())
            req = {"text": self.text(), "digest": digest(cfg), "known": self.known(), "node": cfg.node.name,
                   "who": who, "dry_run": dry_run, "force": force, "synced": bool(self.record())}
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
        if self._lock.locked():
            return {"ok": False, "error": f"{self.cfg().node.name} is busy: {self._busy}; try again when it is done",
                    "node": self.cfg().node.name}
        async with self._lock:
            sender, who = str(req.get("node", "the peer"))[:64], str(req.get("who"))[:64]
            self._busy = f"receiving from {sender}, started by {who}"
            try:
                return await self._stage_and_apply(req)
            except (SyncError, ConfigError, NftError) as exc:
                text = "; ".join(str(p) for p in exc.problems if not p.warning) if isinstance(exc, ConfigError) \
                    else str(exc)
                log(logger, "sync_refused", logging.WARNING, error=text)
                return {"ok": False, "error": text, "node": self.cfg().node.name}

    async def _stage_and_apply(self, req: dict[str, Any]) -> dict[str, Any]:
        ours = self.cfg()
        staged, text, kept = self._staged(str(req.get("text", "")))
        if digest(staged) != req.get("digest"):
            raise SyncError("the shared settings do not hash to the digest the sender announced")
        await asyncio.to_thread(self.store.check_unloaded, self.text())
        sender = str(req.get("node", "the peer"))[:64]
        known = req.get("known")
        why = "" if req.get("force") else conflict.refusal(
            ours.node.name, sender, digest(ours), str(req.get("digest")),
            {k for k in known if isinstance(k, str)} if isinstance(known, list) else set(),
            self.store.known_digests(), bool(self.record() or req.get("synced")))
        if why:
            raise SyncError(why)
        why_not = await self._standby(staged)
        if why_not:
            raise SyncError(f"{ours.node.name} could not stand by with it: " + "; ".join(why_not))
        await asyncio.to_thread(NftReconciler(staged).dry_run, False)
        changes = merge.diff(ours, staged, kept, ours.node.name, f"{ours.node.name} after the sync")
        if req.get("dry_run"):
            return {"ok": True, "node": ours.node.name, "dry_run": True, "diff": changes,
                    "priority": staged.node.priority.value}
        who, before = f"{str(req.get('who', '?'))[:64]}@{sender}", self.text()
        try:
            running = await self.apply_text(text, who, f"config sync from {sender}", True)
            if digest(running) != req.get("digest"):
                await self.apply_text(before, who, "config sync rolled back", False)
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
