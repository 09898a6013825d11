"""The cluster daemon of one node: loads the start configuration, answers the
CLI over the control socket (hacore.control.server, handlers in
hacore.node.handlers) and runs the node (hacore.node.root).

Rules: one asyncio loop; peer and client input never stops it; one daemon
per state directory (flock); every change to the running configuration is
validated first, kept as a revision and persisted atomically, applied live
where it can and rolled back whole when it fails; slow work (key
derivation, fsync) runs on threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hacore.config.parse import ConfigError, digest
from hacore.configsync.service import ConfigSync
from hacore.control.schema import COMMANDS
from hacore.control.server import Busy, ControlServer
from hacore.node import watchdog
from hacore.node.handlers import Handlers
from hacore.node.running import Running, StartError
from hacore.support import looplag, supervise
from hacore.support.logfmt import log
from hacore.support.statelock import Locked, StateLock
from hacore.vrrp import sender

if TYPE_CHECKING:
    from hacore.node.exporter import Exporter

logger = logging.getLogger("hacore.daemon")
WRITES = {"config.save", "config.load", "config.rollback", "extc.set", "maintenance.set"}  # requests that write


class Daemon:
    def __init__(self, config_path: Path, state_dir: Path, socket_path: Path):
        self.config_path = config_path
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self.lock = StateLock(state_dir)
        except Locked as exc:
            raise StartError(str(exc)) from None
        self.running = r = Running(config_path, state_dir)
        self.configsync = ConfigSync(state_dir, lambda: r.cfg, lambda: r.text, r.apply_text, r.store)
        self.started_s = time.time()
        self.disk_problem = ""  # the last request that could not write, until one that writes succeeds
        self.restarts = supervise.COUNTERS.new()
        self.lateness = looplag.Lateness()
        self.memory_lock = "off (not configured)"
        self.scheduling_group = "not asked yet"
        self.exporter: Exporter | None = None  # made once metrics are configured (prometheus-client)
        self._handlers = Handlers(r, self.configsync, self._facts)
        handlers = self._handlers.table()
        assert set(handlers) == set(COMMANDS), "every command has a handler and a schema"
        self.control = ControlServer(socket_path, handlers, self._request_done)
        self._stop = asyncio.Event()

    @property
    def bad_requests(self) -> int:
        return self.control.counters["bad_requests"]

    def _facts(self) -> dict[str, Any]:
        """What only the daemon knows, for `cluster info`."""
        return {"configsync": self.configsync.info(), "disk_problem": self.disk_problem,
                "maintenance": self.running.runtime().get("maintenance", False),
                "loop_lateness": self.lateness.info(), "memory_lock": self.memory_lock,
                "scheduling_group": self.scheduling_group,
                "control_bad_requests": self.bad_requests, "uptime_s": round(time.time() - self.started_s, 1),
                "metrics": self.exporter.info() if self.exporter else {"url": "", "state": "off (node.metrics."
                                                                                         "address not set)"}}

    def _families(self) -> list[Any]:
        """Every metric family, from one snapshot (on the loop; see hacore.node.exporter)."""
        from hacore.node import metrics

        node = self.running.node
        sets = [self.control.counters, self.restarts, *(node.counter_sets() if node else ())]
        return [*metrics.from_counters(sets), *metrics.from_info(self._handlers.info("metrics"), time.time()),
                metrics.takeover_steps(self.running.history.entries(), self.started_s)]

    def _health(self) -> str:
        node = self.running.node
        return node.health(time.monotonic()) if node is not None else ""

    async def _serve_metrics(self) -> None:
        """Serve metrics as the running configuration says (called at start and after every change)."""
        m = self.running.cfg.node.metrics
        if self.exporter is None and m.address:
            from hacore.node.exporter import Exporter

            self.exporter = Exporter(self._families)
        if self.exporter is not None:
            await self.exporter.apply(m)

    def _request_done(self, cmd: str, error: OSError | None) -> None:
        if error is not None:
            self.disk_problem = f"cannot write {error.filename or 'a file'}: {error.strerror or error}"
        elif cmd in WRITES:
            self.disk_problem = ""  # a write went through: the disk has room again

    # -- lifecycle ------------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        try:
            self.control.claim()  # before anything runs: never beside a live daemon
        except Busy as exc:
            raise StartError(str(exc)) from None
        self.memory_lock = sender.lock_memory(self.running.cfg.node.timing)
        self.scheduling_group = sender.share_group()
        lag_task = supervise.start("loop_lateness", lambda: looplag.monitor(self.lateness), self.restarts)
        await self.running.start_node()  # before serving, so the first `cluster info` is already the truth
        sync_task = supervise.start("config_sync", self.configsync.run, self.restarts)
        await self.control.start()
        await self._serve_metrics()
        self.running.on_applied = self._serve_metrics
        watchdog.notify(f"READY=1\nSTATUS=election {'running' if self.running.node else 'off (no cluster)'}")
        every_s = watchdog.interval_s()
        dog = supervise.start("watchdog", lambda: watchdog.run(self._health, every_s), self.restarts) \
            if every_s else None
        log(logger, "daemon_started", node=self.running.cfg.node.name, config=self.config_path,
            socket=self.control.path, digest=digest(self.running.cfg)[:12], pid=os.getpid())
        self.running.start_done()
        await self._stop.wait()
        watchdog.notify("STOPPING=1")
        if dog is not None:
            dog.cancel()
        sync_task.cancel()
        lag_task.cancel()
        await asyncio.gather(sync_task, lag_task, return_exceptions=True)
        await self.configsync.stop()
        if self.exporter is not None:
            await asyncio.to_thread(self.exporter.close)
        self.control.close()
        await self.running.stop_node()
        await self.control.wait_closed()
        log(logger, "daemon_stopped", node=self.running.cfg.node.name)

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
