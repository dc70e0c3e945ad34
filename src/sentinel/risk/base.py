"""The risk-engine seam and the alert event it emits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sentinel.post import ScoredPost

__all__ = ["EVENTS", "AlertEvent", "RiskEngine"]

EVENTS = ("opened", "escalated", "deescalated", "resolved")


@dataclass(slots=True)
class AlertEvent:
    """One change in a watch's alert; ``to_json`` is the DESIGN.md backtest line."""

    event: str
    watch: str
    level: str
    risk: float
    at: datetime
    factors: dict[str, Any] = field(default_factory=dict)
    posts: list[str] = field(default_factory=list)
    # for people: sample posts ({"id", "text", "author", "followers", "url", "negative"}) and stories
    samples: list[dict[str, Any]] = field(default_factory=list)
    # set by the store once persisted
    id: int | None = None
    alert_id: int | None = None
    previous_level: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "watch": self.watch,
            "level": self.level,
            "risk": round(self.risk, 1),
            "at": self.at.isoformat(),
            "factors": self.factors,
            "posts": list(self.posts),
        }

    def to_record(self) -> dict[str, Any]:
        """Everything, for the store and notifiers."""
        d = self.to_json()
        d.update(samples=self.samples, id=self.id, alert_id=self.alert_id, previous_level=self.previous_level)
        return d

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> AlertEvent:
        return cls(
            event=d["event"],
            watch=d["watch"],
            level=d["level"],
            risk=float(d["risk"]),
            at=datetime.fromisoformat(d["at"]),
            factors=d.get("factors") or {},
            posts=list(d.get("posts") or []),
            samples=list(d.get("samples") or []),
            id=d.get("id"),
            alert_id=d.get("alert_id"),
            previous_level=d.get("previous_level"),
        )


class RiskEngine(Protocol):
    """Keeps window state per watch and turns it into alert events.

    ``observe`` takes scored posts (their ``created_at`` is event time); ``evaluate``
    re-scores every watch as of ``now`` (the injected clock) and returns the transitions.
    The daemon and ``sentinel backtest`` call exactly these two.
    """

    def observe(self, posts: Sequence[ScoredPost]) -> None: ...

    def evaluate(self, now: datetime) -> list[AlertEvent]: ...

    def warm_start(self, posts: Sequence[ScoredPost], open_levels: dict[str, str], now: datetime) -> None:
        """After a restart: rebuild window state from stored posts and take each watch's
        open alert level from the store, emitting nothing (no alert is raised twice)."""
        ...
