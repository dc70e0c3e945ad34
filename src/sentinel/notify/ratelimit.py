"""Per-channel send limits that keep under each service's published rate limit.

A chat service that is sent too much answers with an error and, for DingTalk, mutes the
robot for ten minutes; staying under the limit on our side is cheaper than retrying.
The services count in windows ("20 a minute"), so each limit is a sliding-window log
— at most N sends in any P seconds — rather than a refilling token bucket, which would
allow up to 2N-1 sends in some window and trip a strict server. ``margin`` adds a little
slack for requests that travel at different speeds.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

__all__ = ["RateLimiter", "Window", "parse_rate"]

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}


def parse_rate(text: str) -> tuple[int, float]:
    """``"20/min"`` -> (20, 60.0); ``"5/s"``; ``"100/10s"`` -> (100, 10.0)."""
    m = _RATE.match(text)
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"not a rate: {text!r} (use e.g. '20/min', '5/s')")
    return int(m.group(1)), float(m.group(2) or 1) * _PER[m.group(3)]


class Window:
    """At most ``limit`` sends in any ``per`` seconds (plus ``margin``)."""

    def __init__(self, limit: int, per: float, margin: float = 0.1) -> None:
        self.limit = limit
        self.per = per + margin
        self.reserve = max(1, limit // 4)
        self.sent: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.sent and self.sent[0] <= now - self.per:
            self.sent.popleft()

    def available(self, now: float) -> int:
        self._expire(now)
        return self.limit - len(self.sent)

    def take(self, now: float) -> None:
        self._expire(now)
        self.sent.append(now)

    def wait(self, now: float) -> float:
        """Seconds until one more send is allowed."""
        self._expire(now)
        if len(self.sent) < self.limit:
            return 0.0
        return self.sent[len(self.sent) - self.limit] + self.per - now


class RateLimiter:
    """Several windows at once (Feishu: 5 a second *and* 100 a minute); none = unlimited.

    >>> r = RateLimiter([(2, 60.0)])
    >>> r.available(0.0), r.take(0.0), r.available(1.0), r.take(1.0), round(r.wait(2.0), 1)
    (2, None, 1, None, 58.1)
    """

    def __init__(self, limits: Sequence[tuple[int, float]] = (), margin: float = 0.1) -> None:
        self.windows = [Window(n, per, margin) for n, per in limits]
        self.paused_until = 0.0

    def available(self, now: float) -> int:
        if now < self.paused_until:
            return 0
        if not self.windows:
            return 1 << 30
        return max(0, min(w.available(now) for w in self.windows))

    def spare(self, now: float) -> int:
        """Sends left after keeping a reserve: the rest of a storm then still goes out at once,
        as a digest, instead of waiting for the window to move."""
        if now < self.paused_until:
            return 0
        if not self.windows:
            return 1 << 30
        return min(w.available(now) - w.reserve for w in self.windows)

    def take(self, now: float) -> None:
        for w in self.windows:
            w.take(now)

    def seed(self, stamps: Sequence[float], now: float) -> None:
        """Sends made before a restart (from the outbox) still count against the service's window."""
        for w in self.windows:
            for ts in sorted(stamps):
                if now - w.per < ts <= now:
                    w.take(ts)

    @property
    def longest(self) -> float:
        return max((w.per for w in self.windows), default=0.0)

    def wait(self, now: float) -> float:
        return max(self.paused_until - now, *(w.wait(now) for w in self.windows), 0.0)

    def pause(self, until: float) -> None:
        """The service said "too fast, come back at ``until``": send nothing before then."""
        self.paused_until = max(self.paused_until, until)
