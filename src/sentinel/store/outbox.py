"""The notification outbox: one row per (alert event, channel), delivered in ``id`` order.

``SqlStore.save_events`` writes the rows with their events; the delivery worker
(:class:`~sentinel.notify.dispatcher.Dispatcher`) claims, marks and retries them through the
methods here; ``sentinel notify-outbox`` and the metrics read the counts. Claims are a
``next_attempt_ts`` in the future, so two processes sharing the store never send a row twice
and a row claimed by a process that died falls due again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sentinel.risk.base import AlertEvent
from sentinel.store import schema as t

__all__ = ["STATUSES", "OutboxEntry", "OutboxTables"]

STATUSES = ("pending", "sent", "dead")


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One (event, channel) delivery as the outbox records it."""

    id: int
    event_id: int
    channel: str
    status: str
    attempts: int
    next_attempt_ts: float
    last_error: str | None
    event: AlertEvent

    def to_json(self) -> dict[str, Any]:
        return {
            "outbox_id": self.id,
            "event_id": self.event_id,
            "channel": self.channel,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "event": self.event.to_json(),
        }


async def queue(conn: AsyncConnection, event_id: int, channels: Iterable[str]) -> None:
    """Outbox rows for a stored event, inside the transaction that stored it."""
    rows = [
        {
            "event_id": event_id,
            "channel": ch,
            "status": "pending",
            "attempts": 0,
            "next_attempt_ts": 0.0,
            "created_ts": time.time(),
        }
        for ch in channels
    ]
    if rows:
        await conn.execute(t.outbox.insert(), rows)


class OutboxTables:
    """The outbox part of :class:`~sentinel.store.SqlStore` (a mixin: it needs ``engine``)."""

    engine: AsyncEngine

    async def outbox_counts(self) -> dict[str, dict[str, int]]:
        """``{channel: {"pending": n, "sent": n, "dead": n}}`` over the whole outbox."""
        q = select(t.outbox.c.channel, t.outbox.c.status, func.count()).group_by(
            t.outbox.c.channel, t.outbox.c.status
        )
        out: dict[str, dict[str, int]] = {}
        async with self.engine.connect() as conn:
            for channel, status, n in await conn.execute(q):
                out.setdefault(channel, dict.fromkeys(STATUSES, 0))[status] = int(n)
        return out

    async def outbox_entries(
        self, *, status: str | None = None, channel: str | None = None, limit: int | None = None
    ) -> list[OutboxEntry]:
        """Outbox rows with their events, oldest first (``status="dead"``: the dead letters)."""
        q = (
            select(t.outbox, t.alert_events.c.data)
            .join(t.alert_events, t.alert_events.c.id == t.outbox.c.event_id)
            .order_by(t.outbox.c.id)
        )
        if status is not None:
            q = q.where(t.outbox.c.status == status)
        if channel is not None:
            q = q.where(t.outbox.c.channel == channel)
        if limit is not None:
            q = q.limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [
            OutboxEntry(
                id=r.id,
                event_id=r.event_id,
                channel=r.channel,
                status=r.status,
                attempts=r.attempts,
                next_attempt_ts=r.next_attempt_ts,
                last_error=r.last_error,
                event=AlertEvent.from_record(json.loads(r.data)),
            )
            for r in rows
        ]

    async def requeue_dead(self, channel: str | None = None) -> int:
        """Dead messages back to pending with a fresh set of tries; returns how many."""
        cond = t.outbox.c.status == "dead"
        if channel is not None:
            cond = and_(cond, t.outbox.c.channel == channel)
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(t.outbox).where(cond).values(status="pending", attempts=0, next_attempt_ts=0.0)
            )
        return int(res.rowcount or 0)

    async def sent_times(self, channel: str, since: float) -> list[float]:
        """When messages of ``channel`` went out since ``since`` (one time per message: a
        digest marks all its rows at once); skipped rows do not count."""
        q = (
            select(t.outbox.c.sent_ts)
            .where(
                t.outbox.c.channel == channel,
                t.outbox.c.status == "sent",
                t.outbox.c.last_error.is_(None),
                t.outbox.c.sent_ts > since,
            )
            .distinct()
        )
        async with self.engine.connect() as conn:
            return [float(r[0]) for r in await conn.execute(q)]

    async def claim_outbox(self, rows: Mapping[int, float], now: float, until: float) -> bool:
        """Claim due pending rows (id -> their ``next_attempt_ts``) until ``until``; all or none."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(t.outbox)
                .where(
                    t.outbox.c.id.in_(list(rows)),
                    t.outbox.c.status == "pending",
                    t.outbox.c.next_attempt_ts <= now,
                )
                .values(next_attempt_ts=until)
            )
            if int(res.rowcount or 0) == len(rows):
                return True
            # lost a race for some of them: give back the ones we did get
            for row_id, before in rows.items():
                await conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.id == row_id, t.outbox.c.next_attempt_ts == until)
                    .values(next_attempt_ts=before)
                )
        return False

    async def release_outbox(self, rows: Mapping[int, float]) -> None:
        """Pending rows claimed by a send that never finished: due again at their old time."""
        async with self.engine.begin() as conn:
            for row_id, before in rows.items():
                await conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.id == row_id, t.outbox.c.status == "pending")
                    .values(next_attempt_ts=before)
                )

    async def fail_outbox(self, dead: list[int], retry: Mapping[int, tuple[int, float]], error: str) -> None:
        """After a failed send: park ``dead`` rows, and set (attempts, next try) of the others."""
        async with self.engine.begin() as conn:
            if dead:
                await conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.id.in_(dead), t.outbox.c.status == "pending")
                    .values(status="dead", attempts=t.outbox.c.attempts + 1, last_error=error)
                )
            for row_id, (attempts, next_ts) in retry.items():
                await conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.id == row_id, t.outbox.c.status == "pending")
                    .values(attempts=attempts, next_attempt_ts=next_ts, last_error=error)
                )

    async def mark_outbox(
        self, ids: list[int], *, status: str, error: str | None, at: float, tried: bool
    ) -> None:
        """Mark pending rows done (``status="pending"`` in the WHERE: a second marking is a
        no-op, not a double count); ``tried`` counts the send as an attempt."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_(ids), t.outbox.c.status == "pending")
                .values(
                    status=status, sent_ts=at, attempts=t.outbox.c.attempts + int(tried), last_error=error
                )
            )
