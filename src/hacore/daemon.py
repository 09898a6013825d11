"""The cluster daemon of one node: loads the start configuration, answers the
CLI over the control socket and (with the election) runs the cluster.

Rules: one asyncio loop; peer and client input never stops it (bad requests
are answered and counted); state lives in one state directory; every change
to the running configuration is validated first and persisted atomically.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import pwd
import signal
import socket
import struct
import time
from pathlib import Path
from typing import Any

from hacore.atomic import atomic_write
from hacore.config.parse import ConfigError, canonical, digest
from hacore.config.store import Store, set_value
from hacore.config.validate import check, check_update_trigger_delay
from hacore.control import MAX_REQUEST, encode
from hacore.election import Election
from hacore.history import History
from hacore.logfmt import log
from hacore.vrrp.machine import Role

logger = logging.getLogger("hacore.daemon")
REQUEST_TIMEOUT_S = 5.0
EXTC_VARIABLES = {"UPDATE_TRIGGER_DELAY": ("cluster", "update_trigger_delay_s")}


class RequestError(Exception):
    """A request the daemon refuses; the message goes back to the CLI."""


class Daemon:
    def __init__(self, config_path: Path, state_dir: Path, socket_path: Path):
        self.config_path = config_path
        self.state_dir = state_dir
        self.socket_path = socket_path
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = Store(state_dir, config_path)
        self.text = config_path.read_text()
        self.cfg, warnings = check(self.text)
        for w in warnings:
            log(logger, "config_warning", logging.WARNING, path=w.path, problem=w.message)
        self.history = History(state_dir / "roles.json")
        self.election: Election | None = None
        self.election_error = ""
        self.started_s = time.time()
        self.bad_requests = 0
        self._stop = asyncio.Event()

    # -- requests -----------------------------------------------------------

    def handle(self, cmd: str, args: dict[str, Any], who: str) -> Any:
        handler = getattr(self, f"_cmd_{cmd.replace('.', '_')}", None)
        if handler is None:
            raise RequestError(f"unknown command {cmd!r}")
        return handler(who=who, **args)

    def _cmd_info(self, who: str) -> dict[str, Any]:
        c = self.cfg.cluster
        election = self.election.info() if self.election else {"cluster_state": "none"}
        reason = "cluster is off" if not c.enabled else self.election_error
        # Config sync has not landed: without exchanged keys the seed's state is "error".
        sync_reason = ("no hotwire interface configured" if not c.hotwire.interface
                       else "SSH keys have not been exchanged with the peer")
        return {
            **election,
            "cluster_reason": reason,
            "sync_state": "error",
            "sync_reason": sync_reason,
            "hotwire_dev": c.hotwire.interface,
            "maintenance": self._runtime().get("maintenance", False),
            "split_brain": election.get("split_brain", False),
            "node": self.cfg.node.name,
            "priority": self.cfg.node.priority.value,
            "peers": [c.hotwire.remote_address] if c.hotwire.remote_address else [],
            "vips": {h.interface: list(h.vips) for h in c.ha_interfaces},
            "update_trigger_delay_s": c.update_trigger_delay_s,
            "auth": c.auth.value,
            "advert_rx_path": "raw-socket",
            "advert_rx_reason": "adverts are read from raw sockets with kernel timestamps; "
                                "this version has no BPF receive path",
            "failovers": election.get("failovers", 0),
            "config_digest": digest(self.cfg)[:12],
            "control_bad_requests": self.bad_requests,
            "uptime_s": round(time.time() - self.started_s, 1),
        }

    def _runtime(self) -> dict[str, Any]:
        """Runtime state kept across restarts (maintenance); a corrupt file is set aside."""
        path = self.state_dir / "runtime.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            path.rename(path.with_suffix(".corrupt"))
            log(logger, "runtime_state_corrupt", logging.ERROR, moved_to=path.with_suffix(".corrupt"))
            return {}
        return data if isinstance(data, dict) else {}

    def _cmd_maintenance_set(self, who: str, value: str, force: bool = False) -> dict[str, Any]:
        if str(value) not in ("0", "1"):
            raise RequestError(f"maintenance: value must be 1 or 0, got {value!r}")
        on = str(value) == "1"
        if self.election is None or self.election.machine is None:
            raise RequestError("maintenance needs the cluster to be on")
        m = self.election.machine
        if on and not m.maintenance and m.role == Role.MASTER and not force:
            peer = self.election.peer_fresh()
            healthy = peer is not None and peer.role == "backup" and not peer.maintenance and peer.priority > 0
            if not healthy:
                what = "not heard on the hotwire" if peer is None else f"{peer.role}, priority {peer.priority}" + (
                    ", in maintenance" if peer.maintenance else "")
                raise RequestError(f"maintenance refused: the peer is not a healthy backup ({what}); "
                                   "--force switches anyway and leaves the VIPs nowhere")
        runtime = self._runtime() | {"maintenance": on}
        atomic_write(self.state_dir / "runtime.json", json.dumps(runtime).encode())
        if m.maintenance != on:
            log(logger, "maintenance", on=on, who=who, forced=force)
            self.election.set_maintenance(on)
        return {"maintenance": on, "cluster_state": str(m.role)}

    def _cmd_history(self, who: str) -> list[dict[str, Any]]:
        return self.history.entries()

    def _extc_path(self, variable: str) -> tuple[str, ...]:
        path = EXTC_VARIABLES.get(variable.upper())
        if path is None:
            raise RequestError(f"unknown variable {variable!r} (known: {', '.join(EXTC_VARIABLES)})")
        return path

    def _cmd_extc_get(self, who: str, variable: str) -> dict[str, Any]:
        section, key = self._extc_path(variable)
        return {"variable": variable.upper(), "value": getattr(getattr(self.cfg, section), key)}

    def _cmd_extc_set(self, who: str, variable: str, value: str) -> dict[str, Any]:
        path = self._extc_path(variable)
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise RequestError(f"{variable.upper()}: not a number of seconds: {value!r}") from None
        if not math.isfinite(seconds) or seconds <= 0:
            raise RequestError(f"{variable.upper()}: must be a positive number of seconds, got {value!r}")
        problems = check_update_trigger_delay(seconds, self.cfg.cluster.auth, variable.upper())
        if any(not p.warning for p in problems):
            raise RequestError(str(problems[0]))
        text = set_value(self.text, path, seconds)
        self.store.write_start(text)
        self._run_text(text, who, f"extc set {variable.upper()}")
        if self.election is not None:
            self.election.set_delay(seconds)
        return {"variable": variable.upper(), "value": seconds, "warnings": [str(p) for p in problems]}

    def _run_text(self, text: str, who: str, why: str) -> list[str]:
        """Make text (already validated and stored) the running configuration."""
        cfg, warnings = check(text)
        old = self.cfg
        self.text, self.cfg = text, cfg
        log(logger, "config_applied", why=why, who=who, old_digest=digest(old)[:12], new_digest=digest(cfg)[:12])
        return [str(w) for w in warnings]

    def _cmd_config_save(self, who: str, name: str) -> dict[str, Any]:
        entry = self.store.save(name, self.text, who)
        log(logger, "config_saved", name=name, who=who, digest=entry.digest[:12])
        return {"name": name, "digest": entry.digest[:12], "when": entry.when}

    def _cmd_config_list(self, who: str) -> list[dict[str, Any]]:
        return self.store.list()

    async def _cmd_config_load(self, who: str, name: str) -> dict[str, Any]:
        old = self.cfg
        text = self.store.load(name, who)
        warnings = self._run_text(text, who, f"config load {name}")
        if (canonical(old), old.node) != (canonical(self.cfg), self.cfg.node):
            await self._restart_election()
        return {"name": name, "digest": digest(self.cfg)[:12], "warnings": warnings}

    def _cmd_config_diff(self, who: str, a: str | None = None, b: str | None = None) -> dict[str, Any]:
        return {"a": a, "b": b, "diff": self.store.diff(a, b)}

    # -- control socket -----------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        who = _peer_name(writer.get_extra_info("socket"))
        try:
            line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
            req = json.loads(line)
            if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
                raise RequestError("a request is {\"cmd\": str, \"args\": {...}}")
            args = req.get("args") or {}
            if not isinstance(args, dict):
                raise RequestError("args must be an object")
            sudo = args.pop("sudo_user", None)
            caller = f"{who} (sudo: {sudo})" if sudo and sudo != who else who
            data = self.handle(req["cmd"], args, caller)
            if asyncio.iscoroutine(data):
                data = await data
            reply = {"ok": True, "data": data}
        except ConfigError as exc:
            reply = {"ok": False, "error": "; ".join(str(p) for p in exc.problems if not p.warning)}
        except (RequestError, ValueError, TypeError, asyncio.LimitOverrunError, TimeoutError) as exc:
            self.bad_requests += 1
            reply = {"ok": False, "error": str(exc) or type(exc).__name__}
        except Exception as exc:  # a bug must not take the daemon down
            logger.exception("request_failed")
            reply = {"ok": False, "error": f"internal error: {exc}"}
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
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            server = await asyncio.start_unix_server(self._client, path=str(self.socket_path), limit=MAX_REQUEST)
        finally:
            os.umask(old_umask)
        log(logger, "daemon_started", node=self.cfg.node.name, config=self.config_path,
            socket=self.socket_path, digest=digest(self.cfg)[:12])
        await self._start_election()
        await self._stop.wait()
        server.close()
        if self.election is not None:
            await self.election.stop()
        await server.wait_closed()
        self.socket_path.unlink(missing_ok=True)
        log(logger, "daemon_stopped", node=self.cfg.node.name)


    async def _start_election(self) -> None:
        """Run the cluster if it is configured; a link missing from the kernel is logged, not fatal."""
        if not self.cfg.cluster.ha_interfaces:
            return
        election = Election(self.cfg, self.history, bool(self._runtime().get("maintenance", False)),
                            self.state_dir / "hmac_counter")
        try:
            await election.start()
        except (KeyError, OSError) as exc:
            self.election_error = f"the cluster cannot run: {exc.args[0] if isinstance(exc, KeyError) else exc}"
            log(logger, "election_failed", logging.ERROR, error=self.election_error)
            await election.stop()
            return
        self.election, self.election_error = election, ""

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
        raise RuntimeError(f"another hacore daemon is listening on {path}")
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
    except ConfigError as exc:
        for p in exc.problems:
            log(logger, "config_invalid", logging.ERROR, path=p.path, problem=p.message, warning=p.warning)
        return 2
    except OSError as exc:
        log(logger, "start_failed", logging.ERROR, error=exc)
        return 2
    try:
        asyncio.run(daemon.run())
    except RuntimeError as exc:
        log(logger, "start_failed", logging.ERROR, error=exc)
        return 2
    return 0
