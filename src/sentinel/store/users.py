"""The console's users: a name, a role and a password hash (never the password).

Hashing is the web side's business (:mod:`sentinel.web.auth`); the store keeps what it is
given and writes an audit entry with every change, as the alert changes do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel.store import schema as t
from sentinel.store.alerts import Audit, _audit
from sentinel.times import from_timestamp

__all__ = ["ROLES", "UserExists", "UserRecord", "UserTables"]

# each role may do what the ones before it may: a viewer reads, a responder also acts on
# alerts (ack, assign, silence, resolve, responses), an admin also manages users
ROLES = ("viewer", "responder", "admin")


class UserExists(ValueError):
    """A user of that name is already there."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    role: str
    password_hash: str
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:  # the hash stays out of logs too
        return f"UserRecord(name={self.name!r}, role={self.role!r})"

    def may(self, role: str) -> bool:
        """Whether this user has at least ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @classmethod
    def from_row(cls, row: Any) -> UserRecord:
        return cls(
            row.name,
            row.role,
            row.password_hash,
            from_timestamp(row.created_ts),
            from_timestamp(row.updated_ts),
        )


def _check(name: str, role: str | None) -> None:
    if (
        not name
        or len(name) > 64
        or name != name.strip()
        or any(c.isspace() or not c.isprintable() for c in name)
    ):
        raise ValueError(f"a user name is 1-64 printable characters without spaces, got {name[:80]!r}")
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")


class UserTables:
    """The users part of :class:`~sentinel.store.SqlStore` (a mixin: it needs ``engine`` and
    ``writing``)."""

    engine: AsyncEngine
    writing: Callable[[str], Any]

    async def add_user(self, name: str, role: str, password_hash: str, audit: Audit) -> UserRecord:
        _check(name, role)
        at = audit.at.timestamp()
        try:
            async with self.writing("user") as conn:
                await conn.execute(
                    t.users.insert().values(
                        name=name, role=role, password_hash=password_hash, created_ts=at, updated_ts=at
                    )
                )
                await _audit(conn, audit, role=role)
        except IntegrityError:
            raise UserExists(f"user {name!r} already exists") from None
        return UserRecord(name, role, password_hash, audit.at, audit.at)

    async def get_user(self, name: str) -> UserRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.users).where(t.users.c.name == name))).first()
        return None if row is None else UserRecord.from_row(row)

    async def list_users(self) -> list[UserRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.users).order_by(t.users.c.name))
            return [UserRecord.from_row(r) for r in rows]

    async def update_user(
        self, name: str, audit: Audit, *, role: str | None = None, password_hash: str | None = None
    ) -> bool:
        """Change a user's role and/or password hash; False if there is no such user."""
        _check(name, role)
        values: dict[str, Any] = {"updated_ts": audit.at.timestamp()}
        if role is not None:
            values["role"] = role
        if password_hash is not None:
            values["password_hash"] = password_hash
        async with self.writing("user") as conn:
            done = await conn.execute(update(t.users).where(t.users.c.name == name).values(**values))
            if done.rowcount:
                await _audit(conn, audit, **({"role": role} if role else {}))
            return bool(done.rowcount)

    async def remove_user(self, name: str, audit: Audit) -> bool:
        async with self.writing("user") as conn:
            done = await conn.execute(delete(t.users).where(t.users.c.name == name))
            if done.rowcount:
                await _audit(conn, audit)
            return bool(done.rowcount)
