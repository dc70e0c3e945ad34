"""The alert page's risk timeline: each event's risk, held until the alert's end or now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sentinel.web.views import _timeline

T0 = datetime(2026, 12, 7, 5, 35, tzinfo=UTC)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def test_one_event_is_still_a_line_to_now() -> None:
    opened = SimpleNamespace(at=T0, risk=26.2, level="blue")
    now = T0 + timedelta(minutes=40)
    assert _timeline([opened], now) == [[_ms(T0), 26.2, "blue"], [_ms(now), 26.2, "blue"]]


def test_a_resolved_alert_ends_at_its_resolution() -> None:
    events = [
        SimpleNamespace(at=T0, risk=30.0, level="blue"),
        SimpleNamespace(at=T0 + timedelta(minutes=5), risk=52.0, level="yellow"),
        SimpleNamespace(at=T0 + timedelta(hours=2), risk=8.0, level="yellow"),
    ]
    points = _timeline(events, T0 + timedelta(hours=2))  # resolved with its last event
    assert [p[1] for p in points] == [30.0, 52.0, 8.0]
    assert _timeline([], T0) == []
