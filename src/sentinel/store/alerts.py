"""Alerts and their events, acknowledgements, silences, responses and the audit trail.

The alert lifecycle lives here, in one place: :meth:`AlertTables.save_events` opens, moves
and resolves ``alerts`` rows from the risk engine's events (and queues them in the outbox),
and the methods below record what people do (ack, resolve by hand, silence, responses),
each change written to ``audit_log`` in the same transaction. Validation of what people
typed is the caller's (:class:`~sentinel.alerting.manage.AlertManager`); reads never fail
on a stored row written before those checks (times are clamped, unreadable rows skipped
with a warning).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent
from sentinel.store import schema as t
from sentinel.store.outbox import queue
from sentinel.times import from_timestamp

__all__ = ["AlertRecord", "AlertTables", "AuditEntry", "ResponseEvent", "Silence"]

log = logging.getLogger(__name__)


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else from_timestamp(ts)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One row of ``alerts``: an alert from opening to resolution, with its acknowledgement."""

    id: int
    watch: str
    status: str
    level: str
    risk: float
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    acked_by: str | None
    acked_at: datetime | None
    ack_note: str | None

    @property
    def acked(self) -> bool:
        return self.acked_by is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "watch": self.watch,
            "status": self.status,
            "level": self.level,
            "risk": round(self.risk, 1),
            "opened_at": self.opened_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "acked_by": self.acked_by,
            "acked_at": self.acked_at.isoformat() if self.acked_at else None,
            "ack_note": self.ack_note,
        }

    @classmethod
    def from_row(cls, row: Any) -> AlertRecord:
        return cls(
            id=int(row.id),
            watch=row.watch,
            status=row.status,
            level=row.level,
            risk=float(row.risk),
            opened_at=from_timestamp(row.opened_ts),
            updated_at=from_timestamp(row.updated_ts),
            resolved_at=_dt(row.resolved_ts),
            acked_by=row.acked_by,
            acked_at=_dt(row.acked_ts),
            ack_note=row.ack_note,
        )


@dataclass(frozen=True, slots=True)
class Silence:
    """Notifications for ``watch`` are held back from ``starts_at`` until ``ends_at``."""

    id: int
    watch: str
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_by: str | None
    created_at: datetime

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "watch": self.watch,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_row(cls, row: Any) -> Silence:
        return cls(
            id=int(row.id),
            watch=str(row.watch),
            starts_at=from_timestamp(row.starts_ts),
            ends_at=from_timestamp(row.ends_ts),
            reason=row.reason,
            created_by=row.created_by,
            created_at=from_timestamp(row.created_ts),
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what to which target, and when."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """Something the company did about a crisis, at a moment in time."""

    id: int
    watch: str
    at: datetime
    kind: str
    note: str | None = None
    url: str | None = None
    created_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "watch": self.watch,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "note": self.note,
            "url": self.url,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True, slots=True)
class Audit:
    """What goes into ``audit_log`` with a change: who, what, on which target, and details."""

    at: datetime
    actor: str
    action: str
    target: str
    data: dict[str, Any]


def _read_silences(rows: Any) -> list[Silence]:
    """Rows that cannot be read (whatever wrote them) are skipped with a warning."""
    out = []
    for row in rows:
        try:
            out.append(Silence.from_row(row))
        except Exception as exc:  # one bad row must not hide the others
            log.warning("skipping unreadable silence #%s: %s", getattr(row, "id", "?"), exc)
    return out


def _audit_data(raw: Any) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {"unreadable": str(raw)[:200]}
    return data if isinstance(data, dict) else {"value": data}


async def _audit(conn: AsyncConnection, audit: Audit, **more: Any) -> None:
    await conn.execute(
        t.audit_log.insert().values(
            at_ts=audit.at.timestamp(),
            actor=audit.actor,
            action=audit.action,
            target=audit.target,
            data=json.dumps({**audit.data, **more}, ensure_ascii=False, default=str),
        )
    )


async def _open_alert(conn: AsyncConnection, ev: AlertEvent, at: float) -> int:
    """The one insert of an ``alerts`` row."""
    res = await conn.execute(
        t.alerts.insert()
        .values(watch=ev.watch, status="open", level=ev.level, risk=ev.risk, opened_ts=at, updated_ts=at)
        .returning(t.alerts.c.id)
    )
    return int(res.scalar_one())


class AlertTables:
    """The alert part of :class:`~sentinel.store.SqlStore` (a mixin: it needs ``engine``,
    ``writing`` and ``upsert_cursor``)."""

    engine: AsyncEngine
    metrics: Metrics
    writing: Callable[[str], Any]
    upsert_cursor: Callable[..., Awaitable[None]]

    # -- the engine's events -----------------------------------------------------------------

    async def open_alert_levels(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.alerts.c.watch, t.alerts.c.level).where(t.alerts.c.status == "open")
            )
            return {r.watch: r.level for r in rows}

    async def save_events(
        self,
        events: Sequence[AlertEvent],
        channels_for: Callable[[AlertEvent], list[str]],
        *,
        cursor: tuple[str, str] | None = None,
        fence: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> list[AlertEvent]:
        """Persist alert events and queue them in the outbox, in one transaction; return those kept.

        The outbox row exists before any attempt to send, so a crash between here and the
        chat service loses nothing; the delivery worker sends each (event, channel) once.
        ``cursor`` (source, value) is saved in the same transaction: the scorer's horizon
        goes with the events it produced, so a restart neither repeats nor skips them.
        ``fence`` runs first in the transaction and raises to veto it (a scorer that lost
        its lease, see :meth:`~sentinel.store.lease.Lease.fence`).
        """
        started = time.perf_counter()
        kept: list[AlertEvent] = []
        async with self.writing("alerts") as conn:
            if fence is not None:
                await fence(conn)
            if cursor is not None:
                await self.upsert_cursor(conn, *cursor)
            for ev in events:
                at = ev.at.timestamp()
                if ev.event == "opened":
                    ev.alert_id = await _open_alert(conn, ev, at)
                else:
                    row = await conn.execute(
                        select(t.alerts.c.id)
                        .where(t.alerts.c.watch == ev.watch, t.alerts.c.status == "open")
                        .order_by(t.alerts.c.id.desc())
                        .limit(1)
                    )
                    alert_id = row.scalar_one_or_none()
                    if alert_id is None and ev.event in ("resolved", "deescalated"):
                        # resolved by hand meanwhile: the engine's own wind-down says nothing new
                        continue
                    # resolved by hand, but the engine still escalates: a new alert
                    ev.alert_id = int(alert_id) if alert_id is not None else await _open_alert(conn, ev, at)
                    values: dict[str, Any] = {"level": ev.level, "risk": ev.risk, "updated_ts": at}
                    if ev.event == "resolved":
                        values.update(status="resolved", resolved_ts=at)
                    await conn.execute(update(t.alerts).where(t.alerts.c.id == ev.alert_id).values(**values))
                res = await conn.execute(
                    t.alert_events.insert()
                    .values(
                        alert_id=ev.alert_id,
                        watch=ev.watch,
                        event=ev.event,
                        level=ev.level,
                        risk=ev.risk,
                        at_ts=at,
                        data="{}",
                    )
                    .returning(t.alert_events.c.id)
                )
                ev.id = int(res.scalar_one())
                kept.append(ev)
                await conn.execute(
                    update(t.alert_events)
                    .where(t.alert_events.c.id == ev.id)
                    .values(data=json.dumps(ev.to_record(), ensure_ascii=False))
                )
                await queue(conn, ev.id, channels_for(ev))
        self.metrics.store_write_seconds.labels("alerts").observe(time.perf_counter() - started)
        return kept

    async def alert_events(
        self, *, watch: str | None = None, alert_id: int | None = None
    ) -> list[AlertEvent]:
        """Stored events in the order they happened (of one watch, or one alert); an
        unreadable row is skipped with a warning."""
        q = select(t.alert_events.c.data).order_by(t.alert_events.c.id)
        if watch is not None:
            q = q.where(t.alert_events.c.watch == watch)
        if alert_id is not None:
            q = q.where(t.alert_events.c.alert_id == alert_id)
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(q))
        events = []
        for r in rows:
            try:
                events.append(AlertEvent.from_record(json.loads(r.data)))
            except Exception as exc:  # one unreadable row must not hide the alert's history
                log.warning("skipping an unreadable alert event: %s", exc)
        return events

    # -- alerts ------------------------------------------------------------------------------

    async def list_alerts(
        self, *, watch: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[AlertRecord]:
        """Newest first."""
        q = select(t.alerts).order_by(t.alerts.c.opened_ts.desc(), t.alerts.c.id.desc()).limit(limit)
        if watch is not None:
            q = q.where(t.alerts.c.watch == watch)
        if status is not None:
            q = q.where(t.alerts.c.status == status)
        async with self.engine.connect() as conn:
            return [AlertRecord.from_row(r) for r in await conn.execute(q)]

    async def alerts_between(self, watch: str, since: datetime, until: datetime) -> list[AlertRecord]:
        """Alerts of ``watch`` that were open at any moment of [since, until), oldest first."""
        q = (
            select(t.alerts)
            .where(t.alerts.c.watch == watch, t.alerts.c.opened_ts < until.timestamp())
            .where((t.alerts.c.resolved_ts.is_(None)) | (t.alerts.c.resolved_ts >= since.timestamp()))
            .order_by(t.alerts.c.opened_ts, t.alerts.c.id)
        )
        async with self.engine.connect() as conn:
            return [AlertRecord.from_row(r) for r in await conn.execute(q)]

    async def get_alert(self, alert_id: int) -> AlertRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).first()
        return None if row is None else AlertRecord.from_row(row)

    async def alert_watches(self) -> set[str]:
        """Every watch that ever had an alert."""
        async with self.engine.connect() as conn:
            return {r[0] for r in await conn.execute(select(t.alerts.c.watch).distinct())}

    async def ack_alert(self, alert_id: int, note: str | None, audit: Audit) -> bool:
        """Record who has the alert (audited); False if there is no such alert."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).first()
            if row is None:
                return False
            await conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert_id)
                .values(acked_by=audit.actor, acked_ts=audit.at.timestamp(), ack_note=note)
            )
            await _audit(conn, audit, watch=row.watch, level=row.level, previous_acked_by=row.acked_by)
        return True

    async def resolve_alert(self, alert_id: int, audit: Audit) -> AlertRecord | None:
        """Close the alert if it is open (audited). Returns the alert as it was before, or
        None if there is none: its ``status`` says whether this closed it."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).first()
            if row is None:
                return None
            if row.status == "open":
                now = audit.at.timestamp()
                await conn.execute(
                    update(t.alerts)
                    .where(t.alerts.c.id == alert_id)
                    .values(status="resolved", resolved_ts=now, updated_ts=now)
                )
                await _audit(conn, audit, watch=row.watch, level=row.level, manual=True)
        return AlertRecord.from_row(row)

    async def open_acks(self, watches: Sequence[str]) -> dict[str, AlertRecord]:
        """The newest open alert of each of ``watches`` (as ``save_events`` attaches events)."""
        q = select(t.alerts).where(t.alerts.c.status == "open", t.alerts.c.watch.in_(list(watches)))
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(q.order_by(t.alerts.c.id)))
        return {r.watch: AlertRecord.from_row(r) for r in rows}

    # -- silences ----------------------------------------------------------------------------

    async def add_silence(
        self, watch: str, starts: datetime, ends: datetime, reason: str | None, audit: Audit
    ) -> Silence:
        async with self.engine.begin() as conn:
            res = await conn.execute(
                t.silences.insert()
                .values(
                    watch=watch,
                    starts_ts=starts.timestamp(),
                    ends_ts=ends.timestamp(),
                    reason=reason,
                    created_by=audit.actor,
                    created_ts=audit.at.timestamp(),
                )
                .returning(t.silences.c.id)
            )
            silence_id = int(res.scalar_one())
            await _audit(conn, audit, silence_id=silence_id)
        return (await self.silences(silence_id=silence_id))[0]

    async def expire_silence(self, silence_id: int, audit: Audit) -> Silence | None:
        """End a silence at ``audit.at`` (kept in the table, as history); None if there is none."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(t.silences).where(t.silences.c.id == silence_id))).first()
            if row is None:
                return None
            now = audit.at.timestamp()
            if row.ends_ts > now:
                await conn.execute(
                    update(t.silences)
                    .where(t.silences.c.id == silence_id)
                    .values(ends_ts=max(now, row.starts_ts))
                )
            await _audit(
                conn,
                Audit(audit.at, audit.actor, audit.action, f"watch:{row.watch}", audit.data),
                silence_id=silence_id,
            )
        return (await self.silences(silence_id=silence_id))[0]

    async def silences(
        self,
        *,
        watches: Sequence[str] | None = None,
        active_at: datetime | None = None,
        silence_id: int | None = None,
    ) -> list[Silence]:
        """Silences, by start; unreadable rows are skipped with a warning."""
        q = select(t.silences).order_by(t.silences.c.starts_ts, t.silences.c.id)
        if watches is not None:
            q = q.where(t.silences.c.watch.in_(list(watches)))
        if active_at is not None:
            now = active_at.timestamp()
            q = q.where(t.silences.c.starts_ts <= now, t.silences.c.ends_ts > now)
        if silence_id is not None:
            q = q.where(t.silences.c.id == silence_id)
        async with self.engine.connect() as conn:
            return _read_silences(await conn.execute(q))

    # -- responses and the audit trail -------------------------------------------------------

    async def add_response(self, response: ResponseEvent, audit: Audit) -> int:
        assert response.created_at is not None
        async with self.engine.begin() as conn:
            res = await conn.execute(
                t.responses.insert()
                .values(
                    watch=response.watch,
                    at_ts=response.at.timestamp(),
                    kind=response.kind,
                    note=response.note,
                    url=response.url,
                    created_ts=response.created_at.timestamp(),
                )
                .returning(t.responses.c.id)
            )
            rid = int(res.scalar_one())
            await _audit(conn, Audit(audit.at, audit.actor, audit.action, f"response:{rid}", audit.data))
        return rid

    async def responses(
        self, *, watch: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[ResponseEvent]:
        """Oldest first."""
        q = select(t.responses).order_by(t.responses.c.at_ts, t.responses.c.id)
        if watch is not None:
            q = q.where(t.responses.c.watch == watch)
        if since is not None:
            q = q.where(t.responses.c.at_ts >= since.timestamp())
        if until is not None:
            q = q.where(t.responses.c.at_ts < until.timestamp())
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(q))
        return [
            ResponseEvent(
                int(r.id),
                r.watch,
                from_timestamp(r.at_ts, "response time"),
                r.kind,
                r.note,
                r.url,
                from_timestamp(r.created_ts, "response time"),
            )
            for r in rows
        ]

    async def add_audit(self, audit: Audit) -> None:
        """An audit entry on its own (a review note: the entry is the record)."""
        async with self.engine.begin() as conn:
            await _audit(conn, audit)

    async def audit_trail(self, *, target: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """Newest first."""
        q = select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(limit)
        if target is not None:
            q = q.where(t.audit_log.c.target == target)
        async with self.engine.connect() as conn:
            rows = list(await conn.execute(q))
        return [
            AuditEntry(int(r.id), from_timestamp(r.at_ts), r.actor, r.action, r.target, _audit_data(r.data))
            for r in rows
        ]
