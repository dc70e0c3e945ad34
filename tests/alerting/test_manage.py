"""Acknowledge, resolve, silence: stored, audited, and carried by later alert events."""

from __future__ import annotations

import pytest

from sentinel.alerting.manage import AlertManager, AlertNotFound, AlertStateError
from sentinel.clock import ManualClock
from sentinel.risk.base import AlertEvent
from sentinel.store import SqlStore

from .conftest import T0, H


def _event(event: str, level: str, hours: float) -> AlertEvent:
    return AlertEvent(event, "acme", level, 60.0, T0 + hours * H)


async def test_ack_is_stored_audited_and_carried_by_later_events(store: SqlStore, clock: ManualClock) -> None:
    manager = AlertManager(store, clock)
    [opened] = await store.save_events(await manager.annotate([_event("opened", "yellow", 4)]), lambda e: [])
    assert "acked_by" not in opened.factors
    alert = await manager.ack(opened.alert_id or 0, actor="wang.li", note="on it")
    assert (alert.acked_by, alert.ack_note, alert.acked_at) == ("wang.li", "on it", clock.now())

    later = await manager.annotate([_event("escalated", "red", 5)])
    await store.save_events(later, lambda e: [])
    assert later[0].factors["acked_by"] == "wang.li"
    assert later[0].factors["acked_at"] == clock.now().isoformat()
    # what the notifiers read back from the store carries the acknowledgement too
    stored = await store.alert_events(watch="acme")
    assert [e.factors.get("acked_by") for e in stored] == [None, "wang.li"]

    [entry] = await manager.audit_trail(target=f"alert:{alert.id}")
    assert (entry.actor, entry.action, entry.data["note"]) == ("wang.li", "alert.ack", "on it")


async def test_a_new_alert_does_not_inherit_the_old_ack(store: SqlStore, clock: ManualClock) -> None:
    manager = AlertManager(store, clock)
    [first] = await store.save_events([_event("opened", "yellow", 1)], lambda e: [])
    await manager.ack(first.alert_id or 0, actor="wang.li")
    await store.save_events(await manager.annotate([_event("resolved", "yellow", 2)]), lambda e: [])
    again = await manager.annotate([_event("opened", "orange", 3)])
    assert "acked_by" not in again[0].factors


async def test_resolve_by_hand(store: SqlStore, clock: ManualClock) -> None:
    manager = AlertManager(store, clock)
    [ev] = await store.save_events([_event("opened", "orange", 4)], lambda e: [])
    alert = await manager.resolve(ev.alert_id or 0, actor="li.na", note="false alarm: a parody account")
    assert alert.status == "resolved" and alert.resolved_at == clock.now()
    with pytest.raises(AlertStateError):
        await manager.resolve(alert.id, actor="li.na")
    with pytest.raises(AlertNotFound):
        await manager.ack(999, actor="li.na")
    assert [a.id for a in await manager.list_alerts(status="open")] == []
    assert [a.id for a in await manager.list_alerts(status="resolved", watch="acme")] == [alert.id]
    actions = [e.action for e in await manager.audit_trail()]
    assert actions == ["alert.resolve"]  # the refused ones left no trace


async def test_silence_marks_events_in_its_window_only(store: SqlStore, clock: ManualClock) -> None:
    manager = AlertManager(store, clock)  # clock at T0 + 4.75 h
    silence = await manager.silence("acme", until=T0 + 6 * H, actor="ops", reason="known outage")
    assert silence.active(T0 + 5 * H) and not silence.active(T0 + 6 * H)
    inside, after, other = await manager.annotate(
        [
            _event("opened", "yellow", 5),
            _event("escalated", "red", 6.5),
            AlertEvent("opened", "other", "blue", 30.0, T0 + 5 * H),
        ]
    )
    assert inside.factors.get("silenced") is True
    assert "silenced" not in after.factors and "silenced" not in other.factors
    assert [s.id for s in await manager.silences(active_only=True)] == [silence.id]

    ended = await manager.expire_silence(silence.id, actor="ops")
    assert ended.ends_at == clock.now()
    assert await manager.silences(active_only=True) == []
    assert [e.action for e in await manager.audit_trail()] == ["silence.expire", "silence.create"]


async def test_bad_input_is_refused(store: SqlStore, clock: ManualClock) -> None:
    manager = AlertManager(store, clock)
    with pytest.raises(ValueError, match="end after"):
        await manager.silence("acme", until=T0, actor="ops")
    [ev] = await store.save_events([_event("opened", "yellow", 4)], lambda e: [])
    with pytest.raises(ValueError, match="actor"):
        await manager.ack(ev.alert_id or 0, actor="   ")
