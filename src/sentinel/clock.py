"""Injected time: live runs read the system clock, backtests move a manual one in event time.

Nothing in the pipeline calls ``datetime.now()``; it asks the clock it was given.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

__all__ = ["UTC8", "Clock", "ManualClock", "SystemClock"]

UTC8 = timezone(timedelta(hours=8), "UTC+8")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, timezone-aware (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; it never goes backwards.

    >>> c = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    >>> c.advance_to(datetime(2026, 1, 2, tzinfo=UTC)); c.now().day
    2
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(1970, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, when: datetime) -> None:
        if when > self._now:
            self._now = when

    def advance(self, delta: timedelta) -> None:
        self._now += delta
