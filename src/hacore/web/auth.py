"""Who may use the web console: passwords stored as scrypt hashes, sessions
that expire, and a CSRF token per session.

Rules: pure (the clock and the randomness source are passed in); a
password is never stored or logged, only its hash; comparisons are
constant-time; a session lives TTL_S after its last use and is then gone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1  # about 50 ms and 16 MiB per check: slow for a guesser
TTL_S = 900.0
MIN_PASSWORD = 12


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def password_problem(password: str) -> str:
    """Why a new password is refused ("" when it is not)."""
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    return ""


@dataclass
class Session:
    user: str
    csrf: str
    last_s: float


class Sessions:
    def __init__(self, clock: Callable[[], float], token: Callable[[], str] = lambda: secrets.token_urlsafe(32),
                 ttl_s: float = TTL_S):
        self.clock, self.token, self.ttl_s = clock, token, ttl_s
        self._by_id: dict[str, Session] = {}

    def open(self, user: str) -> tuple[str, Session]:
        sid = self.token()
        session = self._by_id[sid] = Session(user, self.token(), self.clock())
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session of this id (its use extends it), or None: unknown or expired (then gone)."""
        now = self.clock()
        for old in [k for k, s in self._by_id.items() if now - s.last_s > self.ttl_s]:
            del self._by_id[old]
        session = self._by_id.get(sid or "")
        if session is not None:
            session.last_s = now
        return session

    def close(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")
