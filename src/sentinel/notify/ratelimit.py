"""Token buckets that keep each channel under its service's published rate limits.

A chat service that is sent too much answers with an error and, for DingTalk, mutes the
robot for minutes; staying under the limit on our side is cheaper than retrying.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bucket", "RateLimiter", "parse_rate"]

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


@dataclass
class Bucket:
    """``capacity`` tokens, refilled continuously at ``capacity / per`` tokens a second."""

    capacity: int
    per: float
    tokens: float = -1.0
    stamp: float | None = None

    def _refill(self, now: float) -> None:
        if self.stamp is None or self.tokens < 0:
            self.tokens, self.stamp = float(self.capacity), now
            return
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(float(self.capacity), self.tokens + elapsed * self.capacity / self.per)
        self.stamp = now

    def available(self, now: float) -> int:
        self._refill(now)
        return math.floor(self.tokens + 1e-9)

    def take(self, now: float, n: int = 1) -> None:
        self._refill(now)
        self.tokens -= n

    def wait(self, now: float) -> float:
        """Seconds until one whole token is available."""
        self._refill(now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= 1e-9 else missing * self.per / self.capacity

    def drain(self, now: float) -> None:
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)


class RateLimiter:
    """Several buckets at once (Feishu: 5 a second *and* 100 a minute); no buckets = unlimited.

    >>> r = RateLimiter([(2, 60.0)])
    >>> r.available(0.0), r.take(0.0), r.available(0.0), round(r.wait(0.0))
    (2, None, 1, 0)
    """

    def __init__(self, limits: Sequence[tuple[int, float]] = ()) -> None:
        self.buckets = [Bucket(capacity=n, per=per) for n, per in limits]

    def available(self, now: float) -> int:
        if not self.buckets:
            return 1 << 30
        return min(b.available(now) for b in self.buckets)

    def take(self, now: float, n: int = 1) -> None:
        for b in self.buckets:
            b.take(now, n)

    def wait(self, now: float) -> float:
        return max((b.wait(now) for b in self.buckets), default=0.0)

    def drain(self, now: float) -> None:
        """The service said "too fast": believe it, and start from empty."""
        for b in self.buckets:
            b.drain(now)
