"""A stand-in application for the lab: what hacore starts on the master and
stops on the spare through an application's start/stop/status commands.

    python -m hacore_lab.app start  --pidfile BASE   (detaches a process, returns)
    python -m hacore_lab.app stop   --pidfile BASE
    python -m hacore_lab.app status --pidfile BASE   (exit 0 while it runs)
The process lives at most LIFETIME_S, and `lab down` kills whatever still
runs in the lab's namespaces, this too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LIFETIME_S = 600
MARK = "hacore_lab.app"


def pidfile_of(base: Path) -> Path:
    """One pidfile per network namespace: both lab nodes share a filesystem and a configuration."""
    return base.with_name(f"{base.name}.{os.stat('/proc/self/ns/net').st_ino}.pid")


def running(pidfile: Path) -> int | None:
    """The PID of our process named in pidfile, if it runs."""
    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if MARK.encode() in cmdline and b"\0run\0" in cmdline else None


def start(pidfile: Path) -> None:
    if running(pidfile):
        return
    proc = subprocess.Popen([sys.executable, "-m", MARK, "run"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(proc.pid))


def stop(pidfile: Path) -> None:
    pid = running(pidfile)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    pidfile.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {MARK}")
    ap.add_argument("cmd", choices=("start", "stop", "status", "run"))
    ap.add_argument("--pidfile", type=Path)
    args = ap.parse_args()
    if args.cmd == "run":
        time.sleep(LIFETIME_S)
        return 0
    if args.pidfile is None:
        ap.error("--pidfile is required")
    pidfile = pidfile_of(args.pidfile)
    if args.cmd == "start":
        start(pidfile)
    elif args.cmd == "stop":
        stop(pidfile)
    else:
        return 0 if running(pidfile) else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
