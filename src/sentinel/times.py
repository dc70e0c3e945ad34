"""Times typed by people: ISO 8601 with an offset, ``now``, or ``now-6h`` / ``-6h``.

>>> from datetime import UTC, datetime
>>> now = datetime(2026, 11, 28, 12, tzinfo=UTC)
>>> parse_when("now-90m", now).isoformat()
'2026-11-28T10:30:00+00:00'

Every time that is stored lies within :data:`EARLIEST` .. :data:`LATEST` (UTC), so that it
can be shown in any time zone and turned back into a ``datetime`` when it is read.
:func:`from_timestamp` reads stored times; a row written before these checks existed is
clamped (with a warning) instead of failing the whole read.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from sentinel.config import parse_duration

__all__ = ["EARLIEST", "LATEST", "check_when", "from_timestamp", "parse_when", "retry_after_seconds"]

log = logging.getLogger(__name__)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# a day short of datetime.max: still representable after .astimezone(+14:00)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def check_when(when: datetime, what: str = "time") -> datetime:
    """``when`` in UTC, or ValueError if it has no offset or lies outside 1970 .. 9999-12-30 UTC."""
    if when.tzinfo is None:
        raise ValueError(f"the {what} needs a UTC offset")
    try:
        utc = when.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(f"the {what} {when.isoformat()} is out of range (1970-01-01 .. 9999-12-30 UTC)")
    return utc


def from_timestamp(ts: float | None, what: str = "time") -> datetime:
    """A stored POSIX time as a UTC datetime; out-of-range or broken values are clamped, with a warning."""
    try:
        value = float(ts)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if math.isnan(value):
        log.warning("stored %s %r is not a time; read as %s", what, ts, EARLIEST.isoformat())
        return EARLIEST
    if value < EARLIEST.timestamp() or value > LATEST.timestamp():
        clamped = EARLIEST if value < EARLIEST.timestamp() else LATEST
        log.warning("stored %s %r is out of range; read as %s", what, ts, clamped.isoformat())
        return clamped
    return datetime.fromtimestamp(value, UTC)


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
            when = now - delta if rest[0] == "-" else now + delta
        except (ValueError, OverflowError):
            raise ValueError(f"not a time: {value[:80]!r} (try 'now-6h' or an ISO 8601 time)") from None
        check_when(when)
        return when
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value[:80]!r} (ISO 8601 with offset, 'now' or 'now-6h')") from None
    if when.tzinfo is None:
        raise ValueError(f"{value!r} needs a UTC offset, e.g. {text}+08:00")
    check_when(when)
    return when


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """An HTTP ``Retry-After`` (seconds, or an HTTP date) as seconds from ``now``, never
    negative; None when absent or unreadable (a date without a zone included)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
