"""A watch's alert lifecycle: four levels with hysteresis, minimum evidence, cooldown, resolve.

* Escalate fast: as soon as the score reaches a level's threshold (and the level's minimum
  number of distinct negative voices is there), the alert opens or escalates.
* De-escalate slowly: one level down only after the score has stayed below the current
  level's threshold minus ``hysteresis`` for ``cooldown`` seconds (and again for the next).
* Resolve: once the score has stayed below blue's threshold minus ``hysteresis`` for
  ``resolve_after`` seconds, whatever the level.
* After a resolve, a new alert does not open at blue within ``cooldown`` (it does at yellow
  or above: a real escalation is never held back).
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.config import LEVELS

__all__ = ["LevelState", "Transition"]


@dataclass(frozen=True, slots=True)
class Transition:
    event: str  # opened | escalated | deescalated | resolved
    level: int  # 1..4 (resolved: the level it resolved from)
    previous: int


@dataclass(slots=True)
class LevelState:
    """Level 0 means no open alert; 1..4 are blue..red."""

    level: int = 0
    peak: int = 0
    below_since: float | None = None
    low_since: float | None = None
    changed_at: float = float("-inf")
    resolved_at: float = float("-inf")
    opened_at: float = float("-inf")

    def target(
        self, risk: float, voices: int, thresholds: dict[str, float], min_voices: dict[str, int]
    ) -> int:
        """The highest level the score and the evidence both allow."""
        best = 0
        for i, name in enumerate(LEVELS, start=1):
            if risk >= thresholds[name] and voices >= min_voices[name]:
                best = i
        return best

    def step(
        self,
        now: float,
        risk: float,
        target: int,
        thresholds: dict[str, float],
        *,
        hysteresis: float,
        cooldown: float,
        resolve_after: float,
    ) -> Transition | None:
        prev = self.level
        blue_exit = thresholds["blue"] - hysteresis
        self.low_since = (self.low_since if self.low_since is not None else now) if risk < blue_exit else None
        if target > prev:
            if prev == 0 and target == 1 and now - self.resolved_at < cooldown:
                return None
            if prev == 0:
                self.opened_at = now
            self._move(now, target)
            self.peak = max(self.peak, target)
            return Transition("opened" if prev == 0 else "escalated", target, prev)
        if prev == 0:
            return None
        if self.low_since is not None and now - self.low_since >= resolve_after:
            self.level, self.peak, self.resolved_at = 0, 0, now
            self.below_since = self.low_since = None
            return Transition("resolved", prev, prev)
        exit_at = thresholds[LEVELS[prev - 1]] - hysteresis
        if risk >= exit_at:
            self.below_since = None
            return None
        if self.below_since is None:
            self.below_since = now
        if prev > 1 and now - self.below_since >= cooldown and now - self.changed_at >= cooldown:
            self._move(now, max(prev - 1, target, 1))
            return Transition("deescalated", self.level, prev)
        return None

    def _move(self, now: float, level: int) -> None:
        self.level = level
        self.changed_at = now
        self.below_since = None
