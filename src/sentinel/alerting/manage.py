"""Alert management over the store: list, show, acknowledge, resolve, silence — all audited.

Every change a person makes (ack, manual resolve, silence, response) is written to
``audit_log`` in the same transaction as the change itself, so the trail cannot miss one.

The daemon calls :meth:`AlertManager.annotate` on fresh alert events before
``SqlStore.save_events``: events of an acknowledged alert then carry ``acked_by`` /
``acked_at`` / ``ack_note`` in their factors (notifications show who has it), and events of
a silenced watch carry ``silenced`` (the delivery worker records them as skipped).

>>> # manager = AlertManager(store, SystemClock())
>>> # await manager.ack(12, actor="wang.li", note="on it, PR drafting a statement")
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sentinel.alerting.times import check_when, from_timestamp
from sentinel.clock import Clock
from sentinel.risk.base import AlertEvent
from sentinel.store import schema as t
from sentinel.store.sql import SqlStore

__all__ = [
    "MAX_ID",
    "MAX_SILENCE",
    "AlertManager",
    "AlertNotFound",
    "AlertRecord",
    "AlertStateError",
    "AuditEntry",
    "Silence",
    "write_audit",
]

MAX_NOTE = 2000
MAX_ACTOR = 128
MAX_SILENCE = timedelta(days=366)
"""The longest silence: a longer one is almost always a typo (or a year 9999)."""
ALL_WATCHES = "*"
"""A silence for every watch."""
MAX_LIST = 10_000
MAX_ID = 2**31 - 1
"""Ids are 32-bit integers in PostgreSQL: a larger one is refused before any query."""

log = logging.getLogger(__name__)


class AlertNotFound(LookupError):
    """No alert (or silence) with that id."""


class AlertStateError(ValueError):
    """The change does not fit the alert's state (e.g. resolving a resolved alert)."""


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else from_timestamp(ts)


def _at(ts: float) -> datetime:
    # rows written before times were range-checked are clamped, never fail the read
    return from_timestamp(ts)


def _iso(ts: float | None) -> str | None:
    when = _dt(ts)
    return None if when is None else when.isoformat()


def _id(value: int, what: str = "alert") -> int:
    if not 0 <= value <= MAX_ID:
        raise ValueError(f"{what} id out of range: {value} (1..{MAX_ID})")
    return value


def _actor(actor: str) -> str:
    actor = " ".join(str(actor).split())[:MAX_ACTOR]
    if not actor:
        raise ValueError("who is doing this? (an actor name is required)")
    return actor


def _note(note: str | None) -> str | None:
    if note is None:
        return None
    note = str(note).strip()
    return note[:MAX_NOTE] or None


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
            opened_at=_at(row.opened_ts),
            updated_at=_at(row.updated_ts),
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
            starts_at=_at(row.starts_ts),
            ends_at=_at(row.ends_ts),
            reason=row.reason,
            created_by=row.created_by,
            created_at=_at(row.created_ts),
        )


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


async def write_audit(
    conn: AsyncConnection, at: datetime, actor: str, action: str, target: str, data: dict[str, Any]
) -> None:
    """Append one audit row on ``conn`` (inside the caller's transaction)."""
    await conn.execute(
        t.audit_log.insert().values(
            at_ts=at.timestamp(),
            actor=_actor(actor),
            action=action,
            target=target,
            data=json.dumps(data, ensure_ascii=False, default=str),
        )
    )


class AlertManager:
    """What people do with alerts, over the same store the daemon writes."""

    def __init__(self, store: SqlStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    # -- alerts ------------------------------------------------------------------------------

    async def list_alerts(
        self, *, watch: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[AlertRecord]:
        """Newest first; ``status`` is ``open``, ``resolved`` or ``None`` for both."""
        q = (
            select(t.alerts)
            .order_by(t.alerts.c.opened_ts.desc(), t.alerts.c.id.desc())
            .limit(min(max(1, limit), MAX_LIST))
        )
        if watch is not None:
            q = q.where(t.alerts.c.watch == watch)
        if status is not None:
            if status not in ("open", "resolved"):
                raise ValueError(f"status must be open or resolved, got {status!r}")
            q = q.where(t.alerts.c.status == status)
        async with self.store.engine.connect() as conn:
            return [AlertRecord.from_row(r) for r in await conn.execute(q)]

    async def alerts_between(self, watch: str, since: datetime, until: datetime) -> list[AlertRecord]:
        """Alerts of ``watch`` that were open at any moment of [since, until), oldest first."""
        q = (
            select(t.alerts)
            .where(t.alerts.c.watch == watch, t.alerts.c.opened_ts < until.timestamp())
            .where((t.alerts.c.resolved_ts.is_(None)) | (t.alerts.c.resolved_ts >= since.timestamp()))
            .order_by(t.alerts.c.opened_ts, t.alerts.c.id)
        )
        async with self.store.engine.connect() as conn:
            return [AlertRecord.from_row(r) for r in await conn.execute(q)]

    async def get(self, alert_id: int) -> AlertRecord:
        alert_id = _id(alert_id)
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).first()
        if row is None:
            raise AlertNotFound(f"no alert with id {alert_id}")
        return AlertRecord.from_row(row)

    async def events(self, alert_id: int) -> list[AlertEvent]:
        """The alert's events in the order they happened, as stored (factors, posts, samples)."""
        q = (
            select(t.alert_events.c.data)
            .where(t.alert_events.c.alert_id == _id(alert_id))
            .order_by(t.alert_events.c.id)
        )
        async with self.store.engine.connect() as conn:
            rows = list(await conn.execute(q))
        events = []
        for r in rows:
            try:
                events.append(AlertEvent.from_record(json.loads(r.data)))
            except Exception as exc:  # one unreadable row must not hide the alert's history
                log.warning("skipping an unreadable event of alert #%s: %s", alert_id, exc)
        return events

    async def ack(self, alert_id: int, *, actor: str, note: str | None = None) -> AlertRecord:
        """Record who has the alert. Acking again replaces the acknowledgement (both audited)."""
        actor, note, now, alert_id = _actor(actor), _note(note), self.clock.now(), _id(alert_id)
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).first()
            if row is None:
                raise AlertNotFound(f"no alert with id {alert_id}")
            await conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert_id)
                .values(acked_by=actor, acked_ts=now.timestamp(), ack_note=note)
            )
            await write_audit(
                conn,
                now,
                actor,
                "alert.ack",
                f"alert:{alert_id}",
                {"note": note, "watch": row.watch, "level": row.level, "previous_acked_by": row.acked_by},
            )
        return await self.get(alert_id)

    async def resolve(self, alert_id: int, *, actor: str, note: str | None = None) -> AlertRecord:
        """Close an open alert by hand. The next event for its watch opens a new alert."""
        actor, note, now, alert_id = _actor(actor), _note(note), self.clock.now(), _id(alert_id)
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).first()
            if row is None:
                raise AlertNotFound(f"no alert with id {alert_id}")
            if row.status != "open":
                raise AlertStateError(f"alert {alert_id} is already {row.status}")
            await conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert_id)
                .values(status="resolved", resolved_ts=now.timestamp(), updated_ts=now.timestamp())
            )
            await write_audit(
                conn,
                now,
                actor,
                "alert.resolve",
                f"alert:{alert_id}",
                {"note": note, "watch": row.watch, "level": row.level, "manual": True},
            )
        return await self.get(alert_id)

    # -- silences ----------------------------------------------------------------------------

    async def silence(
        self,
        watch: str,
        *,
        until: datetime,
        actor: str,
        reason: str | None = None,
        starts: datetime | None = None,
    ) -> Silence:
        """Hold back notifications for ``watch`` until ``until`` (alerts are still recorded)."""
        actor, reason, now = _actor(actor), _note(reason), self.clock.now()
        starts = check_when(starts or now, "silence start")
        until = check_when(until, "silence end")
        if until <= starts:
            raise ValueError("a silence must end after it starts")
        if until - max(starts, now) > MAX_SILENCE:
            raise ValueError(
                f"a silence may last at most {MAX_SILENCE.days} days (until {until.isoformat()} is too far)"
            )
        if not watch.strip():
            raise ValueError("a silence needs a watch name")
        async with self.store.engine.begin() as conn:
            res = await conn.execute(
                t.silences.insert()
                .values(
                    watch=watch,
                    starts_ts=starts.timestamp(),
                    ends_ts=until.timestamp(),
                    reason=reason,
                    created_by=actor,
                    created_ts=now.timestamp(),
                )
                .returning(t.silences.c.id)
            )
            silence_id = int(res.scalar_one())
            await write_audit(
                conn,
                now,
                actor,
                "silence.create",
                f"watch:{watch}",
                {
                    "silence_id": silence_id,
                    "starts_at": starts.isoformat(),
                    "ends_at": until.isoformat(),
                    "reason": reason,
                },
            )
        return (await self._silences(t.silences.c.id == silence_id))[0]

    async def expire_silence(self, silence_id: int, *, actor: str) -> Silence:
        """End a silence now (kept in the table, as history)."""
        actor, now, silence_id = _actor(actor), self.clock.now(), _id(silence_id, "silence")
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(select(t.silences).where(t.silences.c.id == silence_id))).first()
            if row is None:
                raise AlertNotFound(f"no silence with id {silence_id}")
            if row.ends_ts > now.timestamp():
                await conn.execute(
                    update(t.silences)
                    .where(t.silences.c.id == silence_id)
                    .values(ends_ts=max(now.timestamp(), row.starts_ts))
                )
            await write_audit(
                conn, now, actor, "silence.expire", f"watch:{row.watch}", {"silence_id": silence_id}
            )
        return (await self._silences(t.silences.c.id == silence_id))[0]

    async def silences(self, *, watch: str | None = None, active_only: bool = False) -> list[Silence]:
        conds = []
        if watch is not None:
            conds.append(t.silences.c.watch == watch)
        if active_only:
            now = self.clock.now().timestamp()
            conds += [t.silences.c.starts_ts <= now, t.silences.c.ends_ts > now]
        return await self._silences(*conds)

    async def _silences(self, *conds: Any) -> list[Silence]:
        q = select(t.silences).where(*conds).order_by(t.silences.c.starts_ts, t.silences.c.id)
        async with self.store.engine.connect() as conn:
            return _read_silences(await conn.execute(q))

    # -- audit -------------------------------------------------------------------------------

    async def audit_trail(self, *, target: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """Newest first."""
        q = select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(min(max(1, limit), MAX_LIST))
        if target is not None:
            q = q.where(t.audit_log.c.target == target)
        async with self.store.engine.connect() as conn:
            rows = list(await conn.execute(q))
        return [
            AuditEntry(
                int(r.id),
                _at(r.at_ts),
                r.actor,
                r.action,
                r.target,
                _audit_data(r.data),
            )
            for r in rows
        ]

    # -- the daemon's hook -------------------------------------------------------------------

    async def annotate(self, events: Sequence[AlertEvent]) -> list[AlertEvent]:
        """Mark fresh events with their alert's acknowledgement and their watch's silence.

        Call before ``SqlStore.save_events``. An ``opened`` event starts a new alert, so only
        later events inherit an acknowledgement (from the watch's open alert, which is the one
        ``save_events`` attaches them to). Silences are matched in event time.
        """
        if not events:
            return list(events)
        try:
            await self._annotate(events)
        except Exception:
            # the events matter more than their annotation: store and send them unmarked
            log.exception(
                "could not annotate %d alert event(s); saving them without acks/silences", len(events)
            )
        return list(events)

    async def _annotate(self, events: Sequence[AlertEvent]) -> None:
        watches = sorted({ev.watch for ev in events} | {ALL_WATCHES})
        async with self.store.engine.connect() as conn:
            acked: dict[str, Any] = {}
            rows = await conn.execute(
                select(
                    t.alerts.c.id,
                    t.alerts.c.watch,
                    t.alerts.c.acked_by,
                    t.alerts.c.acked_ts,
                    t.alerts.c.ack_note,
                )
                .where(t.alerts.c.status == "open", t.alerts.c.watch.in_(watches))
                .order_by(t.alerts.c.id)
            )
            for r in rows:
                acked[r.watch] = r  # the newest open alert wins, as in save_events
            silence_rows = list(await conn.execute(select(t.silences).where(t.silences.c.watch.in_(watches))))
        silences = _read_silences(silence_rows)
        for ev in events:
            try:
                alert = acked.get(ev.watch)
                if ev.event != "opened" and alert is not None and alert.acked_by:
                    ev.factors["acked_by"] = alert.acked_by
                    ev.factors["acked_at"] = _iso(alert.acked_ts)
                    if alert.ack_note:
                        ev.factors["ack_note"] = alert.ack_note
                if any(s.watch in (ev.watch, ALL_WATCHES) and s.active(ev.at) for s in silences):
                    ev.factors["silenced"] = True
            except Exception:
                log.exception("could not annotate the %s event of watch %r", ev.event, ev.watch)
