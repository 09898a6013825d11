"""Logging for the daemon: one line per event on stderr, logfmt fields.

journald keeps stderr lines as they are, and `key=value` fields stay
greppable there. Call log(logger, "event", key=value, ...) for structured
events; ordinary messages work too.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


def _quote(value: Any) -> str:
    s = str(value)
    return f'"{s}"' if (not s or any(c in s for c in ' "=')) else s


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        parts = [f"level={record.levelname.lower()}", f"event={_quote(record.getMessage())}"]
        parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info).splitlines()[-1])}")
        return " ".join(parts)


def setup(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})
