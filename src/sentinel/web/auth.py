"""Who is signed in to the console, and what they may do.

* Passwords are hashed with argon2id (argon2-cffi's defaults); the store keeps the hash only.
* A sign-in gets an opaque random session id in an ``HttpOnly``, ``SameSite=Lax`` cookie; the
  server keeps the session (user, CSRF token, expiry) in memory, so a restart signs everyone
  out and nothing in the cookie can be forged or replayed after sign-out.
* Every form carries the session's CSRF token (``csrf``), compared in constant time.
* Failed sign-ins are counted per user name and per client address; past the limit within
  the window, sign-in answers 429 until the window has moved on.
"""

from __future__ import annotations

import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["LoginLimiter", "Session", "Sessions", "hash_password", "verify_password"]

_hasher = PasswordHasher()
# verified against when the user does not exist, so that a wrong name costs as long as a wrong password
_DUMMY = _hasher.hash("not a password of anyone")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(slots=True)
class Session:
    user: str
    role: str
    csrf: str
    expires: float

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


@dataclass
class Sessions:
    """Session ids to sessions; ``ttl`` seconds each (not renewed: sign in again)."""

    ttl: float
    _by_id: dict[str, Session] = field(default_factory=dict)

    def open(self, user: str, role: str, now: float) -> tuple[str, Session]:
        self._expire(now)
        sid = secrets.token_urlsafe(32)
        session = Session(user, role, secrets.token_urlsafe(32), now + self.ttl)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None, now: float) -> Session | None:
        session = self._by_id.get(sid or "")
        if session is None or session.expires <= now:
            return None
        return session

    def close(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)

    def close_user(self, user: str) -> None:
        """Sign a user out everywhere (removed, or a new password)."""
        for sid in [s for s, v in self._by_id.items() if v.user == user]:
            del self._by_id[sid]

    def _expire(self, now: float) -> None:
        for sid in [s for s, v in self._by_id.items() if v.expires <= now]:
            del self._by_id[sid]


@dataclass
class LoginLimiter:
    """At most ``attempts`` failures per key within ``window`` seconds."""

    attempts: int
    window: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, keys: list[str], now: float) -> bool:
        return any(len(self._recent(k, now)) >= self.attempts for k in keys)

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:  # a flood of names: forget the idle ones
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
