"""Runs a backend or hook command: argv, no shell, bounded by a timeout.

Rules: never raises for the command's sake: a missing program, a failure or
a hang becomes (exit code, one line to show); a command that outlives its
timeout is killed with its whole session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal


async def run(argv: list[str], timeout_s: float, env: dict[str, str] | None = None) -> tuple[int, str]:
    """(exit code, last line of stderr); 127 when it cannot start, -1 when it timed out."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE, start_new_session=True,
                                                    env=env)
    except OSError as exc:
        return 127, f"{argv[0]}: {exc.strerror}"
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):  # its children too: a hook's own sleep must not linger
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return -1, f"{shlex.join(argv)}: no answer within {timeout_s:g} s, killed"
    lines = err.decode(errors="replace").strip().splitlines()
    return proc.returncode or 0, lines[-1] if lines else ""
