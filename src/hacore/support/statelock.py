"""One hacore process at a time per state directory: an flock on
<state_dir>/daemon.lock that holds the owner's PID.

Rules: non-blocking; the kernel drops the lock when the holder dies, so a
crash never leaves a stale lock. The daemon holds it while it runs; the
clean-up verb takes it so that it never removes the VIPs of a live daemon.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class Locked(Exception):
    """Another process holds the state directory; str() is the one line to show."""


class StateLock:
    def __init__(self, state_dir: Path):
        path = state_dir / "daemon.lock"
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise Locked(f"another hacore daemon (pid {holder}) holds {state_dir}") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        os.close(self.fd)  # closing the last descriptor drops the flock
