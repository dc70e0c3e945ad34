"""Times typed by people: ISO 8601 with an offset, ``now``, or ``now-6h`` / ``-6h``.

>>> from datetime import UTC, datetime
>>> now = datetime(2026, 11, 28, 12, tzinfo=UTC)
>>> parse_when("now-90m", now).isoformat()
'2026-11-28T10:30:00+00:00'
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sentinel.config import parse_duration

__all__ = ["parse_when"]


def parse_when(value: str, now: datetime) -> datetime:
    """Parse an absolute or relative time; naive ISO times are refused (their zone is a guess)."""
    text = value.strip()
    low = text.lower()
    if low == "now":
        return now
    rest = low[3:].strip() if low.startswith("now") else low
    if rest[:1] in ("+", "-"):  # ISO dates never start with a sign
        try:
            delta = timedelta(seconds=parse_duration(rest[1:].strip()))
        except ValueError:
            raise ValueError(f"not a time: {value!r} (try 'now-6h' or an ISO 8601 time)") from None
        return now - delta if rest[0] == "-" else now + delta
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value!r} (ISO 8601 with offset, 'now' or 'now-6h')") from None
    if when.tzinfo is None:
        raise ValueError(f"{value!r} needs a UTC offset, e.g. {text}+08:00")
    return when
