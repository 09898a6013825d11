"""The console's users: one JSON file of user -> scrypt hash in the state
directory (0600), written atomically by `hacore web passwd`.

Rules: a damaged file is set aside (hacore.support.statefile) and then no
one can log in until a password is set again - never anyone without one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hacore.support import statefile
from hacore.web import auth

NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


def _ok(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def load(path: Path) -> dict[str, str]:
    return statefile.load(path, _ok, {})


def set_password(path: Path, user: str, password: str) -> None:
    """Raises ValueError with the one line to show for a name or password that is refused."""
    if not NAME.match(user):
        raise ValueError(f"user {user!r}: lower-case letters, digits, . _ -, at most 32")
    problem = auth.password_problem(password)
    if problem:
        raise ValueError(f"password refused: {problem}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    statefile.save(path, load(path) | {user: auth.hash_password(password)})
