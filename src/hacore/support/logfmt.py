"""Logging for the daemon: one line per event on stderr, logfmt fields.

Under journald each event goes to the journal with its fields as journal
fields (HACORE_EVENT, HACORE_<NAME>) and the logfmt line as MESSAGE;
anywhere else each line starts with its own UTC timestamp. Call log(logger, "event", key=value, ...) for structured
events; ordinary messages work too.

Rules: one event repeating (a table loading flips sync_complete hundreds of
times a second) writes at most BURST lines per WINDOW_S; the rest are
counted, and the next line of it written says how many were left out.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

BURST = 5  # lines of one event per window before the rest are only counted
WINDOW_S = 10.0


def _quote(value: Any) -> str:
    """A value as one logfmt token: quoted and escaped when it needs it, so no value (a peer's or a
    client's text included) can end the line or forge a field."""
    s = str(value)
    if s and s.isprintable() and not any(c in s for c in ' "=\\'):
        return s
    return json.dumps(s)  # ASCII only: no control or line-separator character survives unescaped


class LogfmtFormatter(logging.Formatter):
    def __init__(self, timestamps: bool = False):
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        parts = [f"ts={datetime.fromtimestamp(record.created, UTC).isoformat(timespec='milliseconds')[:-6]}Z"
                 ] if self.timestamps else []
        parts += [f"level={record.levelname.lower()}", f"event={_quote(record.getMessage())}"]
        parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")  # the whole traceback, escaped
        return " ".join(parts)


class Repeats(logging.Filter):
    """At most BURST lines of one event (logger and event name) per WINDOW_S; the rest are counted, and
    the next line of that event that is written carries suppressed=N."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.clock = clock
        self.seen: dict[tuple[str, str], tuple[float, int, int]] = {}  # -> (window start, written, left out)

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = (record.name, str(record.msg)), self.clock()
        start, written, left_out = self.seen.get(key, (now, 0, 0))
        if now - start >= WINDOW_S:
            start, written = now, 0
        if written >= BURST:
            self.seen[key] = (start, written, left_out + 1)
            return False
        if left_out:
            record.fields = {**getattr(record, "fields", {}), "suppressed": left_out}
        self.seen[key] = (start, written + 1, 0)
        return True


def under_journald() -> bool:
    """systemd names the stream it connected in JOURNAL_STREAM (device:inode); stderr must be that one."""
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return os.environ.get("JOURNAL_STREAM") == f"{st.st_dev}:{st.st_ino}"


_SYSLOG = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFields(logging.Handler):
    """Under journald: the logfmt line as MESSAGE, with PRIORITY and each field as HACORE_<NAME>, so
    `journalctl HACORE_EVENT=role_change` selects without grep (python3-systemd's sd_journal_send)."""

    def __init__(self, send: Callable[..., None]):
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = {f"HACORE_{k.upper()}": str(v) for k, v in getattr(record, "fields", {}).items()
                      if k.replace("_", "").isalnum()}
            self.send(self.format(record), PRIORITY=str(_SYSLOG.get(record.levelno, 6)),
                      SYSLOG_IDENTIFIER="hacore", HACORE_EVENT=record.getMessage(), **fields)
        except Exception:  # logging must never take the daemon down
            self.handleError(record)


def _handler() -> logging.Handler:
    """journald's native fields where stderr is the journal and python3-systemd is there; else lines on
    stderr, timestamped when not under journald."""
    if under_journald():
        try:
            from systemd import journal
        except ImportError:
            pass
        else:
            return JournalFields(journal.send)
    return logging.StreamHandler(sys.stderr)


def setup(level: int = logging.INFO) -> None:
    handler = _handler()
    handler.setFormatter(LogfmtFormatter(timestamps=not under_journald()))
    handler.addFilter(Repeats())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})
