"""Logging for the daemon: one line per event on stderr, logfmt fields.

journald keeps stderr lines as they are, and `key=value` fields stay
greppable there. Call log(logger, "event", key=value, ...) for structured
events; ordinary messages work too.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any


def _quote(value: Any) -> str:
    """A value as one logfmt token: quoted and escaped when it needs it, so no value (a peer's or a
    client's text included) can end the line or forge a field."""
    s = str(value)
    if s and s.isprintable() and not any(c in s for c in ' "=\\'):
        return s
    return json.dumps(s)  # ASCII only: no control or line-separator character survives unescaped


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        parts = [f"level={record.levelname.lower()}", f"event={_quote(record.getMessage())}"]
        parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")  # the whole traceback, escaped
        return " ".join(parts)


def setup(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})
