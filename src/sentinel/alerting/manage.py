"""Alert management over the store: list, show, acknowledge, resolve, silence — all audited.

Every change a person makes (ack, manual resolve, silence, response) is written to
``audit_log`` in the same transaction as the change itself, so the trail cannot miss one
(the store does that: :mod:`sentinel.store.alerts`). What people type is checked here first.

The event path (:class:`~sentinel.alerting.events.EventPath`) calls
:meth:`AlertManager.annotate` on fresh alert events before the store saves them: events of
an acknowledged alert then carry ``acked_by`` / ``acked_at`` / ``ack_note`` in their factors
(notifications show who has it), and events of a silenced watch carry ``silenced`` (the
delivery worker records them as skipped).

>>> # manager = AlertManager(store, SystemClock())
>>> # await manager.ack(12, actor="wang.li", note="on it, PR drafting a statement")
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sentinel.clock import Clock
from sentinel.risk.base import AlertEvent
from sentinel.store.alerts import AlertRecord, Audit, AuditEntry, Silence
from sentinel.store.base import Store
from sentinel.times import check_when

__all__ = [
    "ALL_WATCHES",
    "MAX_ID",
    "MAX_SILENCE",
    "AlertManager",
    "AlertNotFound",
    "AlertRecord",
    "AlertStateError",
    "AuditEntry",
    "Silence",
    "audit",
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


def audit(at: datetime, actor: str, action: str, target: str, data: dict[str, Any]) -> Audit:
    """The audit row that goes with a change (the actor checked)."""
    return Audit(at, _actor(actor), action, target, data)


class AlertManager:
    """What people do with alerts, over the same store the daemon writes."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    # -- alerts ------------------------------------------------------------------------------

    async def list_alerts(
        self, *, watch: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[AlertRecord]:
        """Newest first; ``status`` is ``open``, ``resolved`` or ``None`` for both."""
        if status is not None and status not in ("open", "resolved"):
            raise ValueError(f"status must be open or resolved, got {status!r}")
        return await self.store.list_alerts(watch=watch, status=status, limit=min(max(1, limit), MAX_LIST))

    async def alerts_between(self, watch: str, since: datetime, until: datetime) -> list[AlertRecord]:
        """Alerts of ``watch`` that were open at any moment of [since, until), oldest first."""
        return await self.store.alerts_between(watch, since, until)

    async def get(self, alert_id: int) -> AlertRecord:
        alert_id = _id(alert_id)
        found = await self.store.get_alert(alert_id)
        if found is None:
            raise AlertNotFound(f"no alert with id {alert_id}")
        return found

    async def events(self, alert_id: int) -> list[AlertEvent]:
        """The alert's events in the order they happened, as stored (factors, posts, samples)."""
        return await self.store.alert_events(alert_id=_id(alert_id))

    async def ack(self, alert_id: int, *, actor: str, note: str | None = None) -> AlertRecord:
        """Record who has the alert. Acking again replaces the acknowledgement (both audited)."""
        actor, note, now, alert_id = _actor(actor), _note(note), self.clock.now(), _id(alert_id)
        change = audit(now, actor, "alert.ack", f"alert:{alert_id}", {"note": note})
        if not await self.store.ack_alert(alert_id, note, change):
            raise AlertNotFound(f"no alert with id {alert_id}")
        return await self.get(alert_id)

    async def resolve(self, alert_id: int, *, actor: str, note: str | None = None) -> AlertRecord:
        """Close an open alert by hand. The next event for its watch opens a new alert."""
        actor, note, now, alert_id = _actor(actor), _note(note), self.clock.now(), _id(alert_id)
        change = audit(now, actor, "alert.resolve", f"alert:{alert_id}", {"note": note})
        before = await self.store.resolve_alert(alert_id, change)
        if before is None:
            raise AlertNotFound(f"no alert with id {alert_id}")
        if before.status != "open":
            raise AlertStateError(f"alert {alert_id} is already {before.status}")
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
        data = {"starts_at": starts.isoformat(), "ends_at": until.isoformat(), "reason": reason}
        change = audit(now, actor, "silence.create", f"watch:{watch}", data)
        return await self.store.add_silence(watch, starts, until, reason, change)

    async def expire_silence(self, silence_id: int, *, actor: str) -> Silence:
        """End a silence now (kept in the table, as history)."""
        actor, now, silence_id = _actor(actor), self.clock.now(), _id(silence_id, "silence")
        found = await self.store.expire_silence(silence_id, audit(now, actor, "silence.expire", "", {}))
        if found is None:
            raise AlertNotFound(f"no silence with id {silence_id}")
        return found

    async def silences(self, *, watch: str | None = None, active_only: bool = False) -> list[Silence]:
        return await self.store.silences(
            watches=None if watch is None else [watch], active_at=self.clock.now() if active_only else None
        )

    # -- audit -------------------------------------------------------------------------------

    async def audit_trail(self, *, target: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """Newest first."""
        return await self.store.audit_trail(target=target, limit=min(max(1, limit), MAX_LIST))

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
        acked = await self.store.open_acks(watches)
        silences = await self.store.silences(watches=watches)
        for ev in events:
            try:
                alert = acked.get(ev.watch)
                if ev.event != "opened" and alert is not None and alert.acked_by:
                    ev.factors["acked_by"] = alert.acked_by
                    ev.factors["acked_at"] = alert.acked_at.isoformat() if alert.acked_at else None
                    if alert.ack_note:
                        ev.factors["ack_note"] = alert.ack_note
                if any(s.watch in (ev.watch, ALL_WATCHES) and s.active(ev.at) for s in silences):
                    ev.factors["silenced"] = True
            except Exception:
                log.exception("could not annotate the %s event of watch %r", ev.event, ev.watch)
