"""Response events (statement, apology, recall, clarification) and their measured effect.

For each response the posts of its watch are split into a window before it and a window
after it (same length, default 6 h; the after window stops at "now" if that comes first),
and compared on:

* **volume** — posts per hour (Poisson rate ratio, exact test);
* **negative share** — share of posts labelled negative (two-proportion test);
* **mean negativity** — the model's mean P(negative) (bootstrap interval);
* **spread velocity of the main stories** — posts per hour in the five biggest stories of
  the before window (a story is a post and its reposts; rate ratio);
* **response mentions** — share of posts that mention the response (its kind's words, e.g.
  道歉 / 致歉 for an apology, or its URL; two-proportion test);
* **risk** — the engine's risk score, time-weighted over each window from the stored alert
  events (the engine's own output, shown without a test).

A change is reported only when its 95 % interval excludes "no change"; otherwise the
verdict is "no clear change", so noise is not sold as effect.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sentinel.alerting.manage import AlertRecord, audit
from sentinel.alerting.stats import Comparison, bootstrap_mean_diff, rate_ratio, two_proportions
from sentinel.clock import Clock
from sentinel.post import ScoredPost
from sentinel.risk.base import AlertEvent
from sentinel.store.alerts import ResponseEvent
from sentinel.store.base import Store
from sentinel.times import check_when

__all__ = [
    "DEFAULT_WINDOW",
    "KINDS",
    "MENTION_TERMS",
    "Effect",
    "ResponseEvent",
    "ResponseLog",
    "evaluate_effect",
    "mentions_response",
    "risk_at",
    "story_key",
    "time_to_first_response",
]

KINDS = ("statement", "apology", "recall", "clarification", "other")
DEFAULT_WINDOW = timedelta(hours=6)
MAIN_STORIES = 5
MIN_AFTER = timedelta(minutes=10)  # shorter than this, an "after" window measures nothing yet

# Words people use when they talk about a company's response (simplified; posts are folded).
_COMMON = ("回应", "官方", "声明")
MENTION_TERMS: dict[str, tuple[str, ...]] = {
    "statement": ("声明", "公告", "回应", "表态"),
    "apology": ("道歉", "致歉", "歉意", "对不起", "抱歉"),
    "recall": ("召回", "下架", "退货", "退款", "回收"),
    "clarification": ("澄清", "辟谣", "说明", "谣言", "不实"),
    "other": _COMMON,
}


class ResponseLog:
    """The ``responses`` table: record responses (audited) and read them back."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def add(
        self,
        watch: str,
        *,
        at: datetime,
        kind: str,
        actor: str,
        note: str | None = None,
        url: str | None = None,
    ) -> ResponseEvent:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        at = check_when(at, "response time")
        if not watch.strip():
            raise ValueError("a response needs a watch name")
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url[:60]!r}")
        now = self.clock.now()
        note = (note or "").strip()[:2000] or None
        response = ResponseEvent(0, watch, at.astimezone(UTC), kind, note, url, now)
        data = {"watch": watch, "at": at.isoformat(), "kind": kind, "note": note, "url": url}
        rid = await self.store.add_response(response, audit(now, actor, "response.add", "", data))
        return ResponseEvent(rid, watch, at.astimezone(UTC), kind, note, url, now)

    async def list(
        self, *, watch: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[ResponseEvent]:
        """Oldest first."""
        return await self.store.responses(watch=watch, since=since, until=until)


# -- effect ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Effect:
    """The before/after comparison for one response."""

    response: ResponseEvent
    window: timedelta
    before: tuple[datetime, datetime]
    after: tuple[datetime, datetime]
    comparisons: list[Comparison] = field(default_factory=list)
    risk_before: float | None = None
    risk_after: float | None = None
    stories: list[str] = field(default_factory=list)
    note: str | None = None  # why the measurement is partial, if it is

    def comparison(self, metric: str) -> Comparison:
        return next(c for c in self.comparisons if c.metric == metric)

    def to_json(self) -> dict[str, Any]:
        return {
            "response": self.response.to_json(),
            "window_seconds": self.window.total_seconds(),
            "before": [self.before[0].isoformat(), self.before[1].isoformat()],
            "after": [self.after[0].isoformat(), self.after[1].isoformat()],
            "comparisons": [c.to_json() for c in self.comparisons],
            "risk_before": self.risk_before,
            "risk_after": self.risk_after,
            "main_stories": self.stories,
            "note": self.note,
        }


def story_key(sp: ScoredPost) -> str:
    """A story is a post and everything reposting it."""
    return sp.post.repost_of or sp.post.id


def mentions_response(text: str, response: ResponseEvent) -> bool:
    from sentinel.risk.text import fold

    folded = fold(text)
    if response.url and response.url.lower() in text.lower():
        return True
    return any(term in folded for term in MENTION_TERMS.get(response.kind, _COMMON))


def risk_at(events: Sequence[AlertEvent], when: datetime) -> float:
    """The engine's risk for the watch at ``when``: the last event's score, 0 once resolved."""
    risk = 0.0
    for ev in events:
        if ev.at > when:
            break
        risk = 0.0 if ev.event == "resolved" else ev.risk
    return risk


def _mean_risk(events: Sequence[AlertEvent], start: datetime, end: datetime) -> float | None:
    span = (end - start).total_seconds()
    if span <= 0:
        return None
    points = [start, *(ev.at for ev in events if start < ev.at < end), end]
    total = 0.0
    for a, b in itertools.pairwise(points):
        total += risk_at(events, a) * (b - a).total_seconds()
    return total / span


def evaluate_effect(
    response: ResponseEvent,
    posts: Sequence[ScoredPost],
    events: Sequence[AlertEvent],
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    alpha: float = 0.05,
) -> Effect:
    """Compare the windows around ``response``; ``posts`` must cover both (extra ones are ignored)."""
    at = response.at
    b0, b1 = at - window, at
    a0, a1 = at, min(at + window, max(now, at))
    events = sorted(events, key=lambda e: e.at)
    effect = Effect(response, window, (b0, b1), (a0, a1))
    if a1 - a0 < MIN_AFTER:
        effect.note = f"too early: less than {int(MIN_AFTER.total_seconds() // 60)} min since the response"
        return effect
    if a1 - a0 < window:
        effect.note = f"after window cut short at now ({(a1 - a0).total_seconds() / 3600:.1f} h)"
    before = [sp for sp in posts if b0 <= sp.post.created_at < b1]
    after = [sp for sp in posts if a0 <= sp.post.created_at < a1]
    tb, ta = (b1 - b0).total_seconds(), (a1 - a0).total_seconds()
    comps = effect.comparisons
    comps.append(rate_ratio("volume (posts/h)", len(before), tb, len(after), ta, alpha))
    neg_b = sum(sp.label == "negative" for sp in before)
    neg_a = sum(sp.label == "negative" for sp in after)
    comps.append(two_proportions("negative share", neg_b, len(before), neg_a, len(after), alpha))
    comps.append(
        bootstrap_mean_diff(
            "mean P(negative)", [sp.negative for sp in before], [sp.negative for sp in after], alpha
        )
    )
    stories = [k for k, _ in Counter(story_key(sp) for sp in before).most_common(MAIN_STORIES)]
    effect.stories = stories
    main = set(stories)
    comps.append(
        rate_ratio(
            "main-story velocity (posts/h)",
            sum(story_key(sp) in main for sp in before),
            tb,
            sum(story_key(sp) in main for sp in after),
            ta,
            alpha,
        )
    )
    men_b = sum(mentions_response(sp.post.text, response) for sp in before)
    men_a = sum(mentions_response(sp.post.text, response) for sp in after)
    comps.append(
        two_proportions("share mentioning the response", men_b, len(before), men_a, len(after), alpha)
    )
    effect.risk_before = _mean_risk(events, b0, b1)
    effect.risk_after = _mean_risk(events, a0, a1)
    return effect


def time_to_first_response(
    alerts: Sequence[AlertRecord], responses: Sequence[ResponseEvent]
) -> tuple[datetime, datetime, timedelta] | None:
    """(first alert opened, first response after it, the time between), if both exist."""
    if not alerts:
        return None
    first_alert = min(a.opened_at for a in alerts)
    later = sorted(r.at for r in responses if r.at >= first_alert)
    if not later:
        return None
    return first_alert, later[0], later[0] - first_alert
