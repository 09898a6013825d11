"""Writing a file so that readers and crashes see the old content or the new, whole.

Rules: standard library only; used for every file hacore keeps in its state
directory and for the start configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

TMP_MARK = ".tmp."  # in the names of temporary files, so leftovers can be found


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace path with data so that readers and crashes see old or new, whole."""
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            if os.write(fd, data) != len(data):
                raise OSError(28, os.strerror(28), str(path))  # a short write is a full disk
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a file behind
        if isinstance(exc, OSError) and exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None  # say where
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
