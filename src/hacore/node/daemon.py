"""The cluster daemon of one node: loads the start configuration, answers the
CLI over the control socket and runs the election.

Rules: one asyncio loop; peer and client input never stops it (a request
that does not fit its schema is refused in one line and counted); one daemon
per state directory (flock), and a daemon removes only the socket it made;
every change to the running configuration is validated first and persisted
atomically; slow work (key derivation, fsync) runs on threads.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import pwd
import re
import signal
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hacore.config import live
from hacore.config.model import Config
from hacore.config.parse import ConfigError, decode, digest
from hacore.config.store import Store, set_value
from hacore.config.validate import check, check_update_trigger_delay, vrid_moves
from hacore.configsync.endpoint import SyncError
from hacore.configsync.service import ConfigSync
from hacore.configsync.sshkeys import SshKeyError
from hacore.control.protocol import MAX_REQUEST, decode_request, encode
from hacore.control.schema import COMMANDS, SchemaError
from hacore.effects.services import Services
from hacore.node.history import History
from hacore.security.keys import derive
from hacore.support import looplag, statefile, supervise
from hacore.support.logfmt import log
from hacore.support.statelock import Locked, StateLock
from hacore.vrrp import sender
from hacore.vrrp.machine import Role
from hacore.vrrp.service import Election

logger = logging.getLogger("hacore.daemon")
REQUEST_TIMEOUT_S = 5.0
EXTC_VARIABLES = {"UPDATE_TRIGGER_DELAY": ("cluster", "update_trigger_delay_s")}
WRITES = {"config.save", "config.load", "config.rollback", "extc.set", "maintenance.set"}  # requests that write
DECIMAL = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")  # plain decimal seconds: no signs, exponents, _ or words


class RequestError(Exception):
    """A request the daemon refuses; the message goes back to the CLI."""


class StartError(Exception):
    """The daemon cannot start; str() is the one line to log."""


def read_config(path: Path) -> str:
    try:
        return decode(path.read_bytes())
    except OSError as exc:
        raise StartError(f"cannot read {path}: {exc.strerror}") from None


class Daemon:
    def __init__(self, config_path: Path, state_dir: Path, socket_path: Path):
        self.config_path = config_path
        self.state_dir = state_dir
        self.socket_path = socket_path
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self.lock = StateLock(state_dir)
        except Locked as exc:
            raise StartError(str(exc)) from None
        self.store = Store(state_dir, config_path)
        self.text = read_config(config_path)
        self.cfg, warnings = check(self.text)
        for w in warnings:
            log(logger, "config_warning", logging.WARNING, path=w.path, problem=w.message)
        self.history = History(state_dir / "roles.json")
        self.election: Election | None = None
        self.configsync = ConfigSync(state_dir, lambda: self.cfg, lambda: self.text, self._apply_text, self.store)
        self.started_s = time.time()
        self.bad_requests = 0
        self.last_apply = ""
        self.disk_problem = ""  # the last request that could not write, until one that writes succeeds
        self.restarts: Counter[str] = Counter()
        self.lateness = looplag.Lateness()
        self.memory_lock = "off (not configured)"
        self._socket_ino: int | None = None
        self._stop = asyncio.Event()
        self.handlers: dict[str, Callable[..., Any]] = {
            "info": self._cmd_info,
            "history": self._cmd_history,
            "services": self._cmd_services,
            "maintenance.set": self._cmd_maintenance_set,
            "extc.get": self._cmd_extc_get,
            "extc.set": self._cmd_extc_set,
            "config.save": self._cmd_config_save,
            "config.list": self._cmd_config_list,
            "config.load": self._cmd_config_load,
            "config.rollback": self._cmd_config_rollback,
            "config.diff": self._cmd_config_diff,
            "config.sync": self._cmd_config_sync,
            "config.sync_state": self._cmd_config_sync_state,
            "sshkey.generate": self._cmd_sshkey_generate,
            "sshkey.show": self._cmd_sshkey_show,
            "sshkey.set_remote": self._cmd_sshkey_set_remote,
        }
        assert set(self.handlers) == set(COMMANDS), "every command has a handler and a schema"

    # -- requests -----------------------------------------------------------

    def _cmd_info(self, who: str) -> dict[str, Any]:
        c = self.cfg.cluster
        election = self.election.info() if self.election else {"cluster_state": "none"}
        reason = ""
        if not c.ha_interfaces:
            reason = "no HA interfaces configured"
        elif election.get("waiting_for"):
            reason = "waiting for " + "; ".join(election["waiting_for"])
        elif not c.enabled:
            reason = "cluster is off"
        return {
            **election,
            "cluster_reason": reason,
            **self.configsync.info(),
            "hotwire_dev": c.hotwire.interface,
            "maintenance": self._runtime().get("maintenance", False),
            "split_brain": election.get("split_brain", False),
            "node": self.cfg.node.name,
            "priority": self.cfg.node.priority.value,
            "peers": [c.hotwire.remote_address] if c.hotwire.remote_address else [],
            "vips": {h.interface: list(h.vips) for h in c.ha_interfaces},
            "update_trigger_delay_s": c.update_trigger_delay_s,
            "auth": c.auth.value,
            "loop_lateness": self.lateness.info(),
            "memory_lock": self.memory_lock,
            "failovers": election.get("failovers", 0),
            "degraded": [why for why in (election.get("state_problem"), self.disk_problem) if why],
            "config_digest": digest(self.cfg)[:12],
            "control_bad_requests": self.bad_requests,
            "uptime_s": round(time.time() - self.started_s, 1),
        }

    def _runtime(self) -> dict[str, Any]:
        """Runtime state kept across restarts (maintenance); a damaged file is set aside."""
        return statefile.load(self.state_dir / "runtime.json",
                              lambda v: isinstance(v, dict) and isinstance(v.get("maintenance", False), bool), {})

    async def _cmd_maintenance_set(self, who: str, value: str, force: bool = False) -> dict[str, Any]:
        on = value == "1"
        if self.election is None or self.election.machine is None:
            raise RequestError("maintenance needs the cluster to be running")
        m = self.election.machine
        if on and not m.maintenance and m.role == Role.MASTER and not force:
            # A status older than two of its intervals may be the last word of a peer that died.
            window_s = 2 * self.cfg.cluster.update_trigger_delay_s / 3
            peer = self.election.peer_fresh(window_s)
            healthy = peer is not None and peer.role == "backup" and not peer.maintenance and peer.priority > 0
            if not healthy:
                what = (f"no status on the hotwire within {window_s * 1e3:.0f} ms" if peer is None else
                        f"{peer.role}, priority {peer.priority}" + (", in maintenance" if peer.maintenance else ""))
                raise RequestError(f"maintenance refused: the peer is not a healthy backup ({what}); "
                                   "--force sets it anyway: the VIPs stay here until a peer can take them")
        runtime = self._runtime() | {"maintenance": on}
        await asyncio.to_thread(statefile.save, self.state_dir / "runtime.json", runtime)
        if m.maintenance != on:
            log(logger, "maintenance", on=on, who=who, forced=force)
            self.election.set_maintenance(on)
        return {"maintenance": on, "cluster_state": str(m.role)}

    def _cmd_history(self, who: str) -> list[dict[str, Any]]:
        return self.history.entries()

    def _cmd_services(self, who: str) -> list[dict[str, Any]]:
        if self.election is not None and self.election.runner.effects is not None:
            return self.election.runner.effects.services.view()
        return Services(self.cfg).view()  # not running: what is configured, nothing known of its state

    def _extc_path(self, variable: str) -> tuple[str, ...]:
        path = EXTC_VARIABLES.get(variable.upper())
        if path is None:
            raise RequestError(f"unknown variable {variable!r} (known: {', '.join(EXTC_VARIABLES)})")
        return path

    def _cmd_extc_get(self, who: str, variable: str) -> dict[str, Any]:
        section, key = self._extc_path(variable)
        return {"variable": variable.upper(), "value": getattr(getattr(self.cfg, section), key)}

    async def _cmd_extc_set(self, who: str, variable: str, value: str) -> dict[str, Any]:
        path = self._extc_path(variable)
        if not DECIMAL.match(value):
            raise RequestError(f"{variable.upper()}: not a plain decimal number of seconds: {value!r}")
        seconds = float(value)
        problems = check_update_trigger_delay(seconds, self.cfg.cluster.auth, variable.upper())
        if any(not p.warning for p in problems):
            raise RequestError(str(problems[0]))
        text = set_value(self.text, path, seconds)
        why = f"extc set {variable.upper()}"
        await asyncio.to_thread(self.store.replace_start, text, self.text, who, why)
        self._run_text(text, who, why)
        if self.election is not None and self.election.machine is not None:
            self.election.set_delay(seconds)
        else:
            await self._restart_election()  # still waiting: it starts with the new value
        return {"variable": variable.upper(), "value": seconds, "warnings": [str(p) for p in problems]}

    def _run_text(self, text: str, who: str, why: str) -> list[str]:
        """Make text (already validated and stored) the running configuration."""
        cfg, warnings = check(text)
        old = self.cfg
        self.text, self.cfg = text, cfg
        log(logger, "config_applied", why=why, who=who, old_digest=digest(old)[:12], new_digest=digest(cfg)[:12])
        return [str(w) for w in warnings]

    async def _cmd_config_save(self, who: str, name: str) -> dict[str, Any]:
        entry = await asyncio.to_thread(self.store.save, name, self.text, who)
        log(logger, "config_saved", name=name, who=who, digest=entry.digest[:12])
        return {"name": name, "digest": entry.digest[:12], "when": entry.when}

    async def _cmd_config_list(self, who: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.store.list)

    async def _cmd_config_load(self, who: str, name: str, why: str = "") -> dict[str, Any]:
        text = await asyncio.to_thread(self.store.text, name)
        cfg, warnings = await asyncio.to_thread(check, text)  # raises with every problem: nothing changes
        moves = vrid_moves(self.cfg, cfg)
        if moves and self.election is not None:
            raise ConfigError(moves)
        cfg = await self._apply_text(text, who, why or f"config load {name}")
        await asyncio.to_thread(self.store.record_load, name, who, cfg)
        return {"name": name, "digest": digest(self.cfg)[:12], "how": self.last_apply,
                "warnings": [str(w) for w in warnings]}

    async def _cmd_config_rollback(self, who: str, revision: str | None = None) -> dict[str, Any]:
        revs = await asyncio.to_thread(self.store.revisions)
        if not revs:
            raise RequestError("no revision to go back to: nothing has replaced the start configuration yet")
        name = f"@{(revision or str(revs[-1].rev)).lstrip('@')}"
        return await self._cmd_config_load(who, name, f"config rollback to {name}")

    async def _apply_text(self, text: str, who: str, why: str, peer_has_it: bool = False) -> Config:
        """Make text (validated) the start and the running configuration, changing only what differs, live
        where it can; the one it replaces is kept as a revision. On any failure the previous one is written
        back and running again (the failed one kept as a revision too), and the error raised in one line."""
        old_text, old = self.text, self.cfg
        await asyncio.to_thread(self.store.replace_start, text, old_text, who, why)
        try:
            self._run_text(text, who, why)
            self.last_apply = await self._reconfigure(old, self.cfg, peer_has_it=peer_has_it)
        except Exception as exc:
            log(logger, "config_apply_failed", logging.ERROR, why=why, error=repr(exc))
            kept = await asyncio.to_thread(self.store.replace_start, old_text, text, who, f"rollback of {why}")
            self._run_text(old_text, who, f"rollback of {why}")
            await self._reconfigure(self.cfg, old, force_restart=True)
            reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise RequestError(f"{why} failed, the configuration that ran before runs again"
                               + (f" (the failed one is kept as @{kept.rev})" if kept else "")
                               + f": {reason or type(exc).__name__}") from None
        return self.cfg

    async def _reconfigure(self, old: Config, new: Config, force_restart: bool = False,
                           peer_has_it: bool = False) -> str:
        """Bring the running cluster to new: live when only live settings differ, else a restart."""
        changed = live.changes(old, new)
        if not changed and not force_restart:
            return "nothing to change"
        hard = [] if force_restart else live.needs_restart(changed, old, new)
        if self.election is None or self.election.machine is None or hard or force_restart:
            if self.election is None and not new.cluster.ha_interfaces:
                return "no cluster configured"
            log(logger, "election_restart", reason="restart needed for " + (", ".join(hard[:5]) or "a rollback"))
            await self._restart_election()
            return "restarted the election for " + (", ".join(hard[:5]) or "a rollback")
        await self.election.reconfigure(new)
        if live.rekeys(changed):  # peer_has_it: a synchronize from the peer brought them
            self.election.rekey(await asyncio.to_thread(derive, new.cluster), peer_has_it)
        return "applied live: " + ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")

    def _cmd_config_diff(self, who: str, a: str | None = None, b: str | None = None) -> dict[str, Any]:
        return {"a": a, "b": b, "diff": self.store.diff(a, b)}

    async def _cmd_config_sync(self, who: str, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
        try:
            reply = await self.configsync.push(who, dry_run, force)
        except SyncError as exc:
            raise RequestError(str(exc)) from None
        if not dry_run and self.election is not None:
            self.election.peer_has_keys()  # it runs this node's configuration, keys included
        return reply

    async def _cmd_config_sync_state(self, who: str) -> dict[str, Any]:
        await self.configsync.ensure_server()
        return await self.configsync.refresh()

    async def _cmd_sshkey_generate(self, who: str, type: str = "ed25519", force: bool = False) -> dict[str, Any]:
        comment = f"hacore@{self.cfg.node.name or 'node'}"
        try:
            line = await asyncio.to_thread(self.configsync.keys.generate, type, comment, force)
        except SshKeyError as exc:
            raise RequestError(str(exc)) from None
        log(logger, "ssh_key_generated", type=type, who=who)
        await self.configsync.ensure_server()
        return {"public_key": line}

    def _cmd_sshkey_show(self, who: str) -> dict[str, Any]:
        try:
            return {"public_key": self.configsync.keys.show()}
        except SshKeyError as exc:
            raise RequestError(str(exc)) from None

    async def _cmd_sshkey_set_remote(self, who: str, key: str) -> dict[str, Any]:
        try:
            fingerprint = await asyncio.to_thread(self.configsync.keys.set_remote, key)
        except SshKeyError as exc:
            raise RequestError(str(exc)) from None
        log(logger, "ssh_remote_key_set", fingerprint=fingerprint, who=who)
        return {"remote_fingerprint": fingerprint}

    # -- control socket -----------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            who = _peer_name(writer.get_extra_info("socket"))
            line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
            cmd, args = decode_request(line)
            sudo = args.pop("sudo_user", None)
            caller = f"{who} (sudo: {sudo})" if sudo and sudo != who else who
            data = self.handlers[cmd](who=caller, **args)
            if inspect.isawaitable(data):
                data = await data
            reply = {"ok": True, "data": data}
            if cmd in WRITES:
                self.disk_problem = ""  # a write went through: the disk has room again
        except ConfigError as exc:
            reply = {"ok": False, "error": "; ".join(str(p) for p in exc.problems if not p.warning)}
        except (RequestError, SchemaError) as exc:
            self.bad_requests += 1
            reply = {"ok": False, "error": str(exc)}
        except (ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            self.bad_requests += 1
            reply = {"ok": False, "error": f"a request is one line of at most {MAX_REQUEST} bytes"}
        except TimeoutError:
            self.bad_requests += 1
            reply = {"ok": False, "error": f"no request within {REQUEST_TIMEOUT_S:g} s"}
        except ConnectionError:  # the client went away: nobody to answer
            writer.close()
            return
        except OSError as exc:  # a full disk, a read-only state directory: say what and where
            log(logger, "request_failed", logging.ERROR, error=exc.strerror or repr(exc), file=exc.filename or "-")
            self.disk_problem = f"cannot write {exc.filename or 'a file'}: {exc.strerror or exc}"
            reply = {"ok": False, "error": f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
                     + "; nothing was changed"}
        except Exception as exc:  # a bug must not take the daemon down; the log keeps the traceback
            logger.exception("request_failed")
            reply = {"ok": False, "error": f"internal error ({type(exc).__name__}): see the daemon's log"}
        try:
            writer.write(encode(reply))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _claim_socket(self.socket_path)
        self.memory_lock = sender.lock_memory(self.cfg.node.timing)
        lag_task = supervise.start("loop_lateness", lambda: looplag.monitor(self.lateness), self.restarts)
        await self._start_election()  # before serving, so the first `cluster info` is already the truth
        sync_task = supervise.start("config_sync", self.configsync.run, self.restarts)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            server = await asyncio.start_unix_server(self._client, path=str(self.socket_path), limit=MAX_REQUEST)
        finally:
            os.umask(old_umask)
        self._socket_ino = self.socket_path.stat().st_ino
        log(logger, "daemon_started", node=self.cfg.node.name, config=self.config_path,
            socket=self.socket_path, digest=digest(self.cfg)[:12], pid=os.getpid())
        await self._stop.wait()
        sync_task.cancel()
        lag_task.cancel()
        await asyncio.gather(sync_task, lag_task, return_exceptions=True)
        await self.configsync.stop()
        server.close()
        if self.election is not None:
            await self.election.stop()
        await server.wait_closed()
        self._remove_own_socket()
        log(logger, "daemon_stopped", node=self.cfg.node.name)

    def _remove_own_socket(self) -> None:
        """Unlink the socket only if it is still the one we made (another daemon may own the path now)."""
        try:
            if self.socket_path.stat().st_ino == self._socket_ino:
                self.socket_path.unlink()
        except FileNotFoundError:
            pass

    async def _start_election(self) -> None:
        """Run the cluster if it is configured; what is missing from the kernel is waited for."""
        if not self.cfg.cluster.ha_interfaces:
            return
        keys = await asyncio.to_thread(derive, self.cfg.cluster)  # PBKDF2: 50-100 ms, not on the loop
        election = Election(self.cfg, self.history, bool(self._runtime().get("maintenance", False)),
                            self.state_dir, keys)
        self.election = election
        await election.start()

    async def _restart_election(self) -> None:
        if self.election is not None:
            log(logger, "election_restart", reason="cluster configuration changed")
            await self.election.stop()
            self.election = None
        await self._start_election()


def _claim_socket(path: Path) -> None:
    """Remove a stale socket; refuse to start beside a live daemon."""
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()
    else:
        raise StartError(f"another hacore daemon is listening on {path}")
    finally:
        probe.close()


def _peer_name(sock: socket.socket | None) -> str:
    if sock is None:
        return "unknown"
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def main(config_path: Path, state_dir: Path, socket_path: Path) -> int:
    try:
        daemon = Daemon(config_path, state_dir, socket_path)
        asyncio.run(daemon.run())
    except ConfigError as exc:
        for p in exc.problems:
            log(logger, "config_invalid", logging.ERROR, path=p.path, problem=p.message, warning=p.warning)
        return 2
    except StartError as exc:
        log(logger, "start_failed", logging.ERROR, error=str(exc))
        return 2
    except PermissionError as exc:
        log(logger, "start_failed", logging.ERROR, error=f"permission denied: {exc.filename}: run as root")
        return 2
    except OSError as exc:
        log(logger, "start_failed", logging.ERROR, error=exc)
        return 2
    return 0
