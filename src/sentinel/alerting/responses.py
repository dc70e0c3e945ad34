"""Response events (statement, apology, recall, clarification) and their measured effect.

A crisis decays by itself, so "fewer posts after the response than before" says nothing. Each
response is measured against a counterfactual built from the course the watch was on before
it (an interrupted time series, :func:`evaluate_effect`): the posts before it are counted per
interval, a trend is fitted on the recent part of that course (from its peak: a crisis decays
from its peak) and projected over the time after the response, and what was observed is set
against the projection:

* **negative posts (posts/h)** -- the primary metric, which gives the verdict: observed /
  expected, against the better fitting of an exponential and an Omori-type decay above the
  level before the crisis (quasi-Poisson);
* **volume (posts/h)** and **main-story velocity** (posts/h of the stories biggest before the
  response, through their repost chains) -- the same way;
* **negative share** -- observed share minus the logistic trend's projection;
* **mean P(negative)** -- observed minus the weighted linear trend's projection;
* **risk** -- the engine's risk score, time-weighted before and after (descriptive);
* **posts mentioning the response** after it -- descriptive. It is not compared with before:
  before a statement the posts mentioning one are the people demanding it ("出来辟谣啊"), so
  a before/after share would read satisfied demand as failure.

Every comparison carries its 90 % interval (each bound a one-sided 95 % bound). The verdict is
"effective" only when the upper bound of negative posts' observed / expected is below 1;
"cannot tell" when the posts peaked too close to the response to project their decay; "too
early" with less than two intervals of data after it (the data end where the store's posts
end: a daemon stopped 40 s after a response has measured nothing). ``bench/effect_placebo.py``
checks the whole on simulated crises: docs/alerting.md "Response effect".
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from sentinel.alerting.manage import AlertRecord, audit
from sentinel.alerting.stats import (
    Comparison,
    Projection,
    binomial_trend,
    mean_trend,
    poisson_trend,
    trend_difference,
    trend_ratio,
)
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
    "effect_lines",
    "evaluate_effect",
    "mentions_response",
    "own_responses",
    "risk_at",
    "story_key",
    "time_to_first_response",
]

KINDS = ("statement", "apology", "recall", "clarification", "other")
DEFAULT_WINDOW = timedelta(hours=6)
MAIN_STORIES = 5
OWN_SAME = timedelta(minutes=15)  # a recorded response this close to a brand's post is that post

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

VERDICTS = (
    "effective",
    "no clear effect",
    "higher than expected",
    "cannot tell",
    "not enough data",
    "too early",
)


@dataclass(slots=True)
class Effect:
    """One response's effect: the after window against what the pre-response course projects.

    ``verdict`` reads the primary metric, negative posts per hour: ``effective`` only when its
    interval (observed / expected) lies wholly below 1; see :data:`VERDICTS`."""

    response: ResponseEvent
    window: timedelta
    before: tuple[datetime, datetime]
    after: tuple[datetime, datetime]
    comparisons: list[Comparison] = field(default_factory=list)
    risk_before: float | None = None
    risk_after: float | None = None
    stories: list[str] = field(default_factory=list)
    note: str | None = None  # why there is no verdict, or why the measurement is partial
    verdict: str = "too early"
    interval: timedelta | None = None  # the counting interval of the time series
    fitted: tuple[datetime, datetime] | None = None  # the part of the before window the trend is fitted on
    mentions: int | None = None  # posts after the response that mention it (descriptive)
    posts_after: int = 0

    def comparison(self, metric: str) -> Comparison:
        return next(c for c in self.comparisons if c.metric == metric)

    @property
    def primary(self) -> Comparison | None:
        return next((c for c in self.comparisons if c.metric == PRIMARY), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "response": self.response.to_json(),
            "window_seconds": self.window.total_seconds(),
            "before": [self.before[0].isoformat(), self.before[1].isoformat()],
            "after": [self.after[0].isoformat(), self.after[1].isoformat()],
            "fitted": None if self.fitted is None else [t.isoformat() for t in self.fitted],
            "interval_seconds": None if self.interval is None else self.interval.total_seconds(),
            "verdict": self.verdict,
            "comparisons": [c.to_json() for c in self.comparisons],
            "risk_before": self.risk_before,
            "risk_after": self.risk_after,
            "main_stories": self.stories,
            "mentions_after": self.mentions,
            "posts_after": self.posts_after,
            "note": self.note,
        }


def story_key(sp: ScoredPost) -> str:
    """The post a post reposts, or itself (:func:`~sentinel.alerting.posts.story_roots`
    follows whole chains)."""
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


PRIMARY = "negative posts (posts/h)"
# the intervals are 90 %: each bound is a one-sided 95 % bound, and "effective" (the upper bound
# below 1) a one-sided test at 5 % -- the claim has one direction (docs/alerting.md)
ALPHA = 0.10
BINS = 24  # counting intervals in the before window (6 h: 15 min each; 5 min: 12.5 s)
REFINE = 8  # intervals wanted between the peak and the response (finer ones when it is close)
MIN_FIT = 4  # intervals the trend needs; fewer after the peak: the crisis was still rising
MIN_AFTER = 2  # intervals of data after the response before anything is said
HORIZON = 0.5  # judged over at most half as long as the trend was seen (the projection widens with distance)
MIN_POSTS = 20  # posts in the fitted part for a count trend
MIN_NEGATIVE = 8  # negative posts in it for the negative-posts trend
MIN_INTERVAL = timedelta(seconds=5)
PEAK_NEAR = 0.9
SKIP = 1  # intervals after the peak left out of the fit (its round top is not the decay)
SMOOTH = 3  # intervals the volume is averaged over to find its peak
RECENT = 0.5  # the share of the before window the trend is fitted on, when the peak is earlier
OMORI_C = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)  # intervals


@dataclass(slots=True)
class _Series:
    """The watch's posts per interval from ``b0``: ``n_pre`` intervals before the response and
    ``n_avail`` after it (as far as the data go)."""

    b0: datetime
    interval: timedelta
    n_pre: int
    n_avail: int
    chosen: list[ScoredPost]  # the posts inside, oldest first
    idx: np.ndarray  # each one's interval
    volume: np.ndarray
    negatives: np.ndarray
    pneg: np.ndarray  # sum of P(negative)

    @classmethod
    def of(
        cls,
        ordered: Sequence[ScoredPost],
        at: datetime,
        window: timedelta,
        interval: timedelta,
        end: datetime,
    ) -> _Series:
        n_pre = max(1, int(window / interval))
        n_avail = max(0, int((end - at) / interval))
        b0 = at - n_pre * interval
        total = n_pre + n_avail
        index = np.array([math.floor((sp.post.created_at - b0) / interval) for sp in ordered], dtype=np.int64)
        inside = (index >= 0) & (index < total)
        chosen = [sp for sp, ok in zip(ordered, inside, strict=True) if ok]
        idx = index[inside]
        neg = np.array([sp.label == "negative" for sp in chosen], dtype=float)
        pneg = np.array([sp.negative for sp in chosen], dtype=float)
        return cls(
            b0,
            interval,
            n_pre,
            n_avail,
            chosen,
            idx,
            np.bincount(idx, minlength=total).astype(float),
            np.bincount(idx, weights=neg, minlength=total),
            np.bincount(idx, weights=pneg, minlength=total),
        )

    def peak(self, search_from: int = 0) -> int:
        """Where the volume before the response peaked: the first interval whose smoothed
        volume comes within :data:`PEAK_NEAR` of the highest (a burst of noise after the peak
        would otherwise start the decay late, and make it look steeper than it is)."""
        smooth = np.convolve(self.volume[: self.n_pre], np.ones(SMOOTH) / SMOOTH, mode="same")[search_from:]
        if not smooth.size:
            return 0
        return search_from + int(np.flatnonzero(smooth >= PEAK_NEAR * smooth.max())[0])


def evaluate_effect(
    response: ResponseEvent,
    posts: Sequence[ScoredPost],
    events: Sequence[AlertEvent],
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    alpha: float = ALPHA,
    data_until: datetime | None = None,
) -> Effect:
    """Measure ``response`` against the course its watch was on (an interrupted time series).

    The before window is cut into :data:`BINS` intervals (finer when the posts peaked close to
    the response, so that :data:`REFINE` of them lie between). A trend is fitted on its recent
    part -- its last half, or from just after its peak when the peak is later: a crisis decays
    from its peak -- and projected over the after window, for half as long as it was seen at most
    (:data:`HORIZON`: the projection widens with distance). Counts get the best fitting of an
    exponential and an Omori-type decay ``(t + c)^-p`` since the peak, above the level before
    the crisis rose (quasi-Poisson); the negative share a logistic trend; mean P(negative) a
    weighted linear one. Each metric is observed against its projection, with an interval
    (90 % by default) holding the projection's uncertainty and the counts' overdispersed
    noise. ``posts`` must cover both windows.

    ``data_until``: where the stored data end (a daemon stopped after the response); the after
    window never runs past it, nor past ``now``.
    """
    at = response.at
    end = min(at + window, max(now, at))
    if data_until is not None:
        end = min(end, max(data_until, at))
    events = sorted(events, key=lambda e: e.at)
    ordered = sorted(posts, key=lambda sp: sp.post.created_at)
    s = _Series.of(ordered, at, window, max(window / BINS, MIN_INTERVAL), end)
    peak = s.peak()
    start = max(peak + SKIP, s.n_pre - int(s.n_pre * RECENT))
    if s.n_pre - start < REFINE:  # close to the peak: count in finer intervals
        coarse = s.interval
        fine = max((s.n_pre - start) * coarse / REFINE, MIN_INTERVAL)
        if fine < coarse:
            near = s.b0 + (start - 1) * coarse  # the peak is no earlier than this
            s = _Series.of(ordered, at, window, fine, end)
            peak = s.peak(max(0, int((near - s.b0) / fine)))
            start = max(peak + SKIP, s.n_pre - int(s.n_pre * RECENT))
    interval, n_pre = s.interval, s.n_pre
    effect = Effect(response, window, (at - window, at), (at, end), interval=interval)
    effect.risk_before = _mean_risk(events, at - window, at)
    if s.n_avail < MIN_AFTER:
        effect.note = (
            f"too early: {_span((end - at).total_seconds())} of data after the response; the measure "
            f"needs {_span(MIN_AFTER * interval.total_seconds())} (two intervals of {_span(interval.total_seconds())})"
        )
        effect.risk_after = _mean_risk(events, at, end) if end > at else None
        return effect
    fit_n = n_pre - start
    n_use = int(min(s.n_avail, max(MIN_AFTER, math.ceil(HORIZON * fit_n)), n_pre))
    effect.after = (at, at + n_use * interval)
    effect.fitted = (s.b0 + start * interval, at)
    effect.risk_after = _mean_risk(events, at, effect.after[1])
    fit_part, after_part = slice(start, n_pre), slice(n_pre, n_pre + n_use)
    effect.posts_after = n_after = int(s.volume[after_part].sum())
    after_posts = [sp for sp, i in zip(s.chosen, s.idx, strict=True) if n_pre <= i < n_pre + n_use]
    effect.mentions = sum(mentions_response(sp.post.text, response) for sp in after_posts)
    if fit_n < MIN_FIT:
        effect.verdict = "cannot tell"
        effect.note = (
            f"cannot tell: the posts peaked {_span(fit_n * interval.total_seconds())} before the response, "
            "too close to it to project the crisis's own course"
        )
        return effect
    n_fit = int(s.volume[fit_part].sum())
    if n_fit < MIN_POSTS:
        effect.verdict = "not enough data"
        effect.note = (
            f"not enough data: {n_fit} posts in the fitted part of the before window (need {MIN_POSTS})"
        )
        return effect
    x_fit = np.arange(start, n_pre) - n_pre + 0.5  # interval midpoints, 0 = the response
    x_after = np.arange(n_use) + 0.5
    since_peak = (np.arange(start, n_pre + n_use) - peak + 0.5, fit_n)
    hours = (fit_n * interval.total_seconds() / 3600, n_use * interval.total_seconds() / 3600)
    comps = effect.comparisons
    for metric, series, need in (
        (PRIMARY, s.negatives, MIN_NEGATIVE),
        ("volume (posts/h)", s.volume, MIN_POSTS),
    ):
        if series[fit_part].sum() >= need:
            _count_metric(
                comps,
                metric,
                series[start : n_pre + n_use],
                x_fit,
                x_after,
                since_peak,
                hours,
                alpha,
                _floor(series, peak, start, n_pre),
            )
    share = binomial_trend(s.negatives[fit_part], s.volume[fit_part], x_fit, s.volume[after_part], x_after)
    if share is not None and n_after > 0:
        comps.append(
            trend_difference(
                "negative share",
                float(s.negatives[fit_part].sum()) / n_fit,
                float(s.negatives[after_part].sum()) / n_after,
                Projection(
                    share.expected / n_after,
                    share.var / n_after**2,
                    share.noise / n_after**2,
                    share.slope,
                    share.slope_se,
                    share.dispersion,
                ),
                n_fit,
                n_after,
                alpha,
            )
        )
    means = s.pneg / np.maximum(s.volume, 1.0)
    spread = np.array(
        [sp.negative for sp, i in zip(s.chosen, s.idx, strict=True) if start <= i < n_pre + n_use]
    )
    mean_fit = mean_trend(
        means[fit_part], s.volume[fit_part], x_fit, s.volume[after_part], x_after, float(spread.var())
    )
    if mean_fit is not None and n_after > 0:
        comps.append(
            trend_difference(
                "mean P(negative)",
                float(s.pneg[fit_part].sum()) / n_fit,
                float(s.pneg[after_part].sum()) / n_after,
                mean_fit,
                n_fit,
                n_after,
                alpha,
            )
        )
    _main_stories(effect, s, start, n_use, x_fit, x_after, since_peak, hours, alpha)
    primary = effect.primary
    if primary is None:
        effect.verdict = "not enough data"
        effect.note = f"not enough data: fewer than {MIN_NEGATIVE} negative posts in the fitted part of the before window"
    elif primary.high is not None and primary.high < 1.0:
        effect.verdict = "effective"
    elif primary.low is not None and primary.low > 1.0:
        effect.verdict = "higher than expected"
    else:
        effect.verdict = "no clear effect"
    if primary is not None and n_use < s.n_avail:
        effect.note = f"judged over the first {_span(n_use * interval.total_seconds())} after the response"
    return effect


def _count_metric(
    comps: list[Comparison],
    metric: str,
    series: np.ndarray,
    x_fit: np.ndarray,
    x_after: np.ndarray,
    since_peak: tuple[np.ndarray, int],
    hours: tuple[float, float],
    alpha: float,
    floor: float = 0.0,
) -> None:
    """A count per interval against the best fitting of an exponential and an Omori decay, above
    the level it had before the crisis rose (``floor`` per interval, 0 when not seen)."""
    n_fit = x_fit.size
    fit_y, observed = series[:n_fit], float(series[n_fit:].sum())
    t, _ = since_peak
    # exponential decay, and Omori-type decay (t + c)^-p since the peak -- the usual law of
    # attention relaxing after a burst -- with c profiled over a grid (in intervals)
    fits = [poisson_trend(fit_y, x_fit, x_after, floor)]
    fits += [poisson_trend(fit_y, np.log(t[:n_fit] + c), np.log(t[n_fit:] + c), floor) for c in OMORI_C]
    best = min((f for f in fits if f is not None), key=lambda f: f.deviance, default=None)
    if best is None:
        return
    comps.append(
        trend_ratio(
            metric,
            float(fit_y.sum()) / hours[0],
            observed / hours[1],
            observed,
            best,
            int(fit_y.sum()),
            int(observed),
            alpha,
            scale=1 / hours[1],
        )
    )


def _floor(series: np.ndarray, peak: int, start: int, n_pre: int) -> float:
    """The series' level before the crisis rose, per interval: the median of the first half of
    the intervals before the peak (the rise is in the second), when there are eight or more of
    them, else 0; never above half the level at the response (the crisis is not assumed over)."""
    if peak < 8:
        return 0.0
    now = float(series[max(start, n_pre - 3) : n_pre].mean())
    return min(float(np.median(series[: peak // 2])), 0.5 * now)


def _main_stories(
    effect: Effect,
    s: _Series,
    start: int,
    n_use: int,
    x_fit: np.ndarray,
    x_after: np.ndarray,
    since_peak: tuple[np.ndarray, int],
    hours: tuple[float, float],
    alpha: float,
) -> None:
    """Posts per interval of the stories biggest in the fitted part, against their trend."""
    from sentinel.alerting.posts import story_roots

    roots = story_roots(s.chosen)
    fitted = Counter(roots[sp.post.id] for sp, i in zip(s.chosen, s.idx, strict=True) if start <= i < s.n_pre)
    main = [k for k, n in fitted.most_common(MAIN_STORIES) if n >= 2]
    effect.stories = main
    if not main:
        return
    keep = set(main)
    hits = np.array([roots[sp.post.id] in keep for sp in s.chosen], dtype=float)
    series = np.bincount(s.idx, weights=hits, minlength=s.n_pre + n_use)[start : s.n_pre + n_use]
    if series[: s.n_pre - start].sum() >= MIN_POSTS:
        _count_metric(
            effect.comparisons,
            "main-story velocity (posts/h)",
            series,
            x_fit,
            x_after,
            since_peak,
            hours,
            alpha,
        )


def effect_lines(effect: Effect, show: Callable[[datetime], str]) -> list[str]:
    """The effect as the CLI prints it: the verdict, the windows, one row per metric (the
    engine's risk included, descriptive) and the response's mentions."""
    e, r = effect, effect.response
    out = [f"#{r.id} {r.kind} at {show(r.at)}: {e.verdict}" + (f"  ({e.note})" if e.note else "")]
    if e.fitted is not None and e.interval is not None:
        out.append(
            f"  trend fitted {show(e.fitted[0])} .. {show(e.fitted[1])}, judged {show(e.after[0])} .. "
            f"{show(e.after[1])}, per {_span(e.interval.total_seconds())}"
        )
    level = next((f"{100 * (1 - c.alpha):.0f}%" for c in e.comparisons), "90%")
    against = f"observed vs expected [{level} CI]"
    head = f"  {'metric':<32} {'before':>8} {'after':>8} {'expected':>9}  {against:<30} {'p':>6}"
    out.append(head)
    for c in e.comparisons:
        if c.change is None or c.low is None or c.high is None:
            change = "-"
        elif c.kind == "ratio":
            change = f"x{c.change:.2f} [{c.low:.2f}, {c.high:.2f}]"
        else:
            change = f"{c.change:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"
        p = "-" if c.p_value is None else ("<0.001" if c.p_value < 0.001 else f"{c.p_value:.3f}")
        out.append(
            f"  {c.metric:<32} {_num(c.before):>8} {_num(c.after):>8} {_num(c.expected):>9}  {change:<30} {p:>6}"
            f"  {_reading(c)}"
        )
    out.append(
        f"  {'risk (engine, time-weighted)':<32} {_num(e.risk_before):>8} {_num(e.risk_after):>8} {'-':>9}  "
        f"{'-':<30} {'-':>6}  descriptive"
    )
    if e.mentions is not None:
        out.append(f"  posts mentioning the response after it: {e.mentions} of {e.posts_after}")
    return out


def _reading(c: Comparison) -> str:
    return {"down": "lower than expected", "up": "higher than expected"}.get(c.direction, "as expected")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


_OWN_KINDS = (
    ("clarification", ("辟谣", "澄清", "不实", "谣言")),
    ("apology", ("道歉", "致歉", "歉意", "对不起")),
    ("recall", ("召回", "下架", "退货", "退款")),
)


def own_responses(
    watch: str, own: Sequence[ScoredPost], recorded: Sequence[ResponseEvent] = ()
) -> list[ResponseEvent]:
    """The brand's own posts (a watch's ``accounts``) as responses, oldest first: its originals,
    not its reposts, and not one recorded by hand already (same URL, or within 15 minutes)."""
    from sentinel.risk.text import fold

    out: list[ResponseEvent] = []
    for sp in own:
        p = sp.post
        if p.repost_of is not None:
            continue
        if any((r.url and r.url == p.url) or abs(r.at - p.created_at) <= OWN_SAME for r in recorded):
            continue
        folded = fold(p.text)
        kind = next((k for k, words in _OWN_KINDS if any(w in folded for w in words)), "statement")
        who = p.author.name or p.author.id or "?"
        note = f"@{who}: {' '.join(p.text.split())[:200]}"
        at = p.created_at.astimezone(UTC)
        out.append(ResponseEvent(0, watch, at, kind, note, p.url, at))
    return out


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
