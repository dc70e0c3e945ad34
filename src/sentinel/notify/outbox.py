"""Reading the notification outbox: counts, entries and dead letters, for the CLI and metrics.

These need only the store's engine — no notifiers — so ``sentinel alerts`` and
``sentinel notify-outbox`` can show them without contacting any chat service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel.risk.base import AlertEvent
from sentinel.store import schema as t

__all__ = ["STATUSES", "OutboxEntry", "outbox_counts", "outbox_entries", "requeue_dead"]

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


async def outbox_counts(engine: AsyncEngine) -> dict[str, dict[str, int]]:
    """``{channel: {"pending": n, "sent": n, "dead": n}}`` over the whole outbox."""
    q = select(t.outbox.c.channel, t.outbox.c.status, func.count()).group_by(
        t.outbox.c.channel, t.outbox.c.status
    )
    out: dict[str, dict[str, int]] = {}
    async with engine.connect() as conn:
        for channel, status, n in await conn.execute(q):
            out.setdefault(channel, dict.fromkeys(STATUSES, 0))[status] = int(n)
    return out


async def outbox_entries(
    engine: AsyncEngine, *, status: str | None = None, channel: str | None = None, limit: int | None = None
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
    async with engine.connect() as conn:
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


async def requeue_dead(engine: AsyncEngine, channel: str | None = None) -> int:
    """Dead messages back to pending with a fresh set of tries; returns how many."""
    cond = t.outbox.c.status == "dead"
    if channel is not None:
        cond = and_(cond, t.outbox.c.channel == channel)
    async with engine.begin() as conn:
        res = await conn.execute(
            update(t.outbox).where(cond).values(status="pending", attempts=0, next_attempt_ts=0.0)
        )
    return int(res.rowcount or 0)
