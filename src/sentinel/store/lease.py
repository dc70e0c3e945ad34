"""Leader election through the database: one row in ``leases`` per singleton job.

Exactly one process holds a lease at a time: the scorer (the risk engine needs to see every
post of a watch, in order) and the notifier (an alert goes out once). Standbys try every
few seconds and take over when the holder stops renewing. One ``INSERT .. ON CONFLICT DO
UPDATE .. WHERE .. RETURNING`` statement decides, so SQLite and PostgreSQL behave alike
without advisory locks. Hosts' clocks must agree to well within ``ttl`` (NTP).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sentinel.clock import Clock, SystemClock
from sentinel.store import schema as t

__all__ = ["Lease", "LeaseLost", "default_holder"]

log = logging.getLogger(__name__)


def default_holder(role: str) -> str:
    """A name that tells an operator where the holder runs: ``score@host:pid``."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


class LeaseLost(Exception):
    """The lease went to another holder: what this one was about to write is no longer its to write."""


class Lease:
    """A renewable, expiring lease named ``name`` held by ``holder``.

    >>> # lease = Lease(store.engine, "scorer", default_holder("score"), ttl=15)
    >>> # if await lease.acquire(): ...  # call again every ttl/3 to renew
    """

    def __init__(
        self, engine: AsyncEngine, name: str, holder: str, *, ttl: float = 15.0, clock: Clock | None = None
    ) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.clock = clock or SystemClock()
        self.held = False

    async def acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if we hold it; True if held."""
        async with self.engine.begin() as conn:
            held = await self.renew_in(conn)
        if held != self.held:
            log.info("lease %s %s by %s", self.name, "acquired" if held else "lost", self.holder)
        self.held = held
        return held

    async def fence(self, conn: AsyncConnection) -> None:
        """Renew inside the caller's transaction, or raise :class:`LeaseLost`.

        A leader's writes then commit only while it holds the lease: the renewal locks the
        lease row until the commit, so a standby cannot take over in between (a leader that
        stalled past its lease, e.g. through a database outage, cannot write what its
        successor writes again).
        """
        if not await self.renew_in(conn):
            self.held = False
            raise LeaseLost(f"lease {self.name} is no longer held by {self.holder}")

    async def renew_in(self, conn: AsyncConnection) -> bool:
        now = self.clock.now().timestamp()
        dialect = self.engine.dialect.name
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t.leases)
        stmt: Any = insert.values(name=self.name, holder=self.holder, expires_ts=now + self.ttl)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": excluded.holder, "expires_ts": excluded.expires_ts},
            where=(t.leases.c.holder == excluded.holder) | (t.leases.c.expires_ts < now),
        ).returning(t.leases.c.holder)
        row = (await conn.execute(stmt)).first()
        return row is not None and row[0] == self.holder

    async def release(self) -> None:
        """Give the lease up at once (clean shut-down), so a standby need not wait for expiry."""
        if not self.held:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                t.leases.delete().where(t.leases.c.name == self.name, t.leases.c.holder == self.holder)
            )
        self.held = False

    async def holder_now(self) -> str | None:
        """Who holds the lease now (None if nobody or expired)."""
        now = self.clock.now().timestamp()
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    t.leases.select().where(t.leases.c.name == self.name, t.leases.c.expires_ts >= now)
                )
            ).first()
        return None if row is None else str(row.holder)
