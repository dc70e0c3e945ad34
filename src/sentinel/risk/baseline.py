"""Seasonal EWMA baseline of hourly post counts (all posts and negative-weighted posts).

Expected count for an hour = level x hour-of-day factor x day-of-week factor, where

* ``level`` is an EWMA of hourly counts (alpha 1/24, faster while young: 1/n),
* the hour-of-day and day-of-week factors are EWMAs of count / level for that slot,
  used once the slot has been seen twice (until then 1.0).

Sane on a cold start (``expected`` is None until one hour has been seen), across gaps
(an hour with no posts at all where many were expected is a collection gap, not a quiet
hour, and is skipped; long gaps cost nothing), and under attack: each update is winsorised
to 3x the expectation, and the caller freezes updates while an alert is at yellow or above,
so a crisis does not become the new normal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SeasonalBaseline"]

_HOUR = 3600.0
DISPERSION = 4.0  # hour-to-hour variation of real mention counts (variance mean + mean^2/4)
COLD_DISPERSION = 1.0  # while the rhythm is unknown: a geometric tail


@dataclass(slots=True)
class _Slot:
    factor: float = 1.0
    seen: int = 0

    def update(self, ratio: float, alpha: float) -> None:
        self.factor = ratio if self.seen == 0 else (1 - alpha) * self.factor + alpha * ratio
        self.seen += 1


@dataclass(slots=True)
class SeasonalBaseline:
    """Hourly seasonal baseline; ``utc_offset`` (hours) places hour-of-day and day-of-week."""

    utc_offset: float = 8.0
    alpha: float = 1 / 24
    slot_alpha: float = 0.25
    level_n: float = 0.0
    level_neg: float = 0.0
    hours_seen: int = 0
    _hod: list[_Slot] = field(default_factory=lambda: [_Slot() for _ in range(24)])
    _dow: list[_Slot] = field(default_factory=lambda: [_Slot() for _ in range(7)])
    _hour: int | None = None  # the hour (index since epoch, local) being accumulated
    _n: float = 0.0
    _neg: float = 0.0
    _covered_from: float | None = None  # first post of a partial first hour
    frozen: bool = False  # set by the watch while its alert is at yellow or above

    def _hour_of(self, ts: float) -> int:
        return int((ts + self.utc_offset * _HOUR) // _HOUR)

    def hour_ends(self, ts: float) -> float:
        """When the local hour of ``ts`` ends: the first time :meth:`roll` closes it."""
        return (self._hour_of(ts) + 1) * _HOUR - self.utc_offset * _HOUR

    def add(self, ts: float, n: float, neg: float) -> None:
        """Count a post (weight ``n``, negative weight ``neg``) at event time ``ts``."""
        hour = self._hour_of(ts)
        if self._hour is None:
            self._hour, self._covered_from = hour, ts
        elif hour > self._hour:
            self.roll(ts, frozen=self.frozen)
        if hour < self._hour:  # a late post for a closed hour: count it in the open one
            hour = self._hour
        self._n += n
        self._neg += neg

    def roll(self, now: float, *, frozen: bool = False) -> None:
        """Close every hour before ``now``'s; ``frozen`` drops them instead of learning."""
        if self._hour is None:
            return
        current = self._hour_of(now)
        if current <= self._hour:
            return
        if not frozen:
            n, neg = self._n, self._neg
            if self._covered_from is not None:  # partial first hour: scale to a full hour
                start = self._hour * _HOUR - self.utc_offset * _HOUR
                covered = min(_HOUR, start + _HOUR - self._covered_from)
                if covered < 600:
                    n = -1.0  # under ten minutes seen: too little to learn from
                else:
                    n, neg = n * _HOUR / covered, neg * _HOUR / covered
            closed = self._expected_hour(self._hour)
            if n > 0 or (n == 0 and (closed is None or closed[0] < 3.0)):
                self._learn(self._hour, n, neg)
            # hours in between had no posts: quiet hours if little was expected, else a gap
            for hour in range(self._hour + 1, min(current, self._hour + 1 + 24 * 7)):
                exp = self._expected_hour(hour)
                if exp is not None and exp[0] < 3.0:
                    self._learn(hour, 0.0, 0.0)
        self._hour, self._n, self._neg, self._covered_from = current, 0.0, 0.0, None

    def _learn(self, hour: int, n: float, neg: float) -> None:
        exp = self._expected_hour(hour)
        if exp is not None:  # winsorise: one wild hour moves the baseline only so far
            n = min(n, 2 * exp[0] + 10)
            neg = min(neg, 2 * exp[1] + 3)
        self.hours_seen += 1
        alpha = max(self.alpha, 1.0 / self.hours_seen)
        if self.hours_seen == 1:
            self.level_n, self.level_neg = n, neg
        else:
            self.level_n += alpha * (n - self.level_n)
            self.level_neg += alpha * (neg - self.level_neg)
        if self.level_n > 0:
            hod, dow = self._slots(hour)
            if hod.seen >= 2 and self.hours_seen > 48:
                # the day of week learns what the hour of day leaves over, once that is known: an
                # hour's raw count / level is mostly the daily rhythm (a weekday first seen at
                # midnight would otherwise be "quiet" for weeks)
                dow.update(min(n / (self.level_n * max(hod.factor, 0.05)), 10.0), self.slot_alpha / 4)
            hod.update(min(n / self.level_n, 10.0), self.slot_alpha)

    def _slots(self, hour: int) -> tuple[_Slot, _Slot]:
        # epoch day 0 (1970-01-01) was a Thursday; dow 0 = Monday
        return self._hod[hour % 24], self._dow[(hour // 24 + 3) % 7]

    def _expected_hour(self, hour: int) -> tuple[float, float] | None:
        if self.hours_seen == 0:
            return None
        hod, dow = self._slots(hour)
        f = (hod.factor if hod.seen >= 2 else 1.0) * (dow.factor if dow.seen >= 2 else 1.0)
        f = min(max(f, 0.05), 10.0)
        return self.level_n * f, self.level_neg * f

    def expected(self, ts: float, seconds: float) -> tuple[float, float] | None:
        """Expected (posts, negative weight) in ``seconds`` ending at ``ts``; None when cold."""
        exp = self._expected_hour(self._hour_of(ts))
        if exp is None:
            return None
        scale = seconds / _HOUR
        return exp[0] * scale, exp[1] * scale

    def dispersion(self, ts: float) -> float:
        """Negative-binomial size for counts against :meth:`expected` at ``ts``: small (a
        wide tail) while the hour-of-day rhythm is not yet known for that hour, so that a
        cold baseline's first mornings do not look like bursts."""
        hod, _ = self._slots(self._hour_of(ts))
        return DISPERSION if hod.seen >= 2 and self.hours_seen >= 48 else COLD_DISPERSION

    @property
    def negative_share(self) -> float | None:
        if self.hours_seen == 0 or self.level_n <= 0:
            return None
        return min(1.0, self.level_neg / self.level_n)
