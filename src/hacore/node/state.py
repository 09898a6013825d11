"""The node's state directory as the running node writes it: the
replay-proof counters and replay windows, kept across restarts, the role
history, and whether the directory can be written now.

Rules: writes run on threads (fsync); a write that fails (a full disk) is
reported, in one line, as the node's state problem and tried again next
time - it never stops the election.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Protocol

from hacore.node.history import History
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.support import statefile
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.election")


class Reserving(Protocol):
    """The advert sender thread, which draws counters itself (hacore.vrrp.sender.FastSender)."""

    def reserve(self) -> None: ...

    def persisted(self, hwm: int) -> None: ...


class NodeState:
    def __init__(self, state_dir: Path):
        self.hwm_path = state_dir / "counter_hwm.json"
        self.replay_path = state_dir / "replay.json"
        stored: dict[str, dict[str, int]] = statefile.load(self.replay_path, _replay_shape, {"vrrp": {}, "hotwire": {}})
        self.vrrp_window = ReplayWindow(stored["vrrp"])
        self.hotwire_window = ReplayWindow(stored["hotwire"])
        hwm = statefile.load(self.hwm_path, lambda v: type(v) is int and v >= 0, 0)
        self.counter = CounterSource(hwm, time.monotonic_ns() // 1000, time.time_ns() // 1000)
        self.problem = ""  # why the state directory cannot be written now (a full disk), for cluster info
        self._hwm_unsaved = False
        self._saving: set[asyncio.Task[None]] = set()

    async def persist(self, fast: Reserving | None, force_hwm: bool = False) -> None:
        """Counter reserve and replay state to disk."""
        if fast is not None:
            fast.reserve()
        hwm = self.counter.hwm if force_hwm or self._hwm_unsaved else self.counter.want_hwm()
        try:
            if hwm is not None:
                self._hwm_unsaved = True
                try:
                    await asyncio.to_thread(statefile.save, self.hwm_path, hwm)
                    self._hwm_unsaved = False
                finally:
                    # Unsaved, the mark still counts: silent adverts would hand the VIPs to the spare while
                    # this node holds them. The cost: after a restart counters follow the wall clock, so
                    # only a clock set back meanwhile could have the peer refuse them as replays.
                    if fast is not None:
                        fast.persisted(hwm)
            if self.vrrp_window.dirty or self.hotwire_window.dirty:
                state = {"vrrp": self.vrrp_window.snapshot(), "hotwire": self.hotwire_window.snapshot()}
                await asyncio.to_thread(statefile.save, self.replay_path, state)
        except OSError as exc:
            self.failed(exc)
        else:
            self.failed(None)

    def save_soon(self, history: History) -> None:
        """The role history to disk, fsynced on a thread, so the VIPs do not wait for the disk."""
        task = asyncio.create_task(self._save(history))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def _save(self, history: History) -> None:
        try:
            await asyncio.to_thread(history.save)
        except OSError as exc:
            self.failed(exc)

    def failed(self, exc: OSError | None) -> None:
        problem = f"cannot write {exc.filename or 'the state directory'}: {exc.strerror or exc}" if exc else ""
        if problem != self.problem:
            log(logger, "state_write", logging.ERROR if problem else logging.INFO, problem=problem or "-",
                state="degraded" if problem else "ok")
            self.problem = problem


def _replay_shape(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"vrrp", "hotwire"}
            and all(statefile.is_str_int_map(v) for v in value.values()))
