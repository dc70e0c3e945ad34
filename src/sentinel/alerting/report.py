"""The review report: what happened to a watch over a time range, computed from the store.

:func:`build_report` gathers the numbers (:class:`ReportData`); :mod:`sentinel.alerting.render`
turns them into a self-contained HTML page and a Markdown file with charts.

Where the numbers come from:

* posts and their sentiment / topics: the stored posts matching the watch's query
  (:mod:`sentinel.alerting.posts`), classified once at ingest — never re-scored;
* risk and levels over time: the stored alert events of the watch (what the engine actually
  said, and what people were told), as a step function that drops to 0 on "resolved";
* volume baseline: for each bucket, the median of the previous day's hourly buckets (or the
  previous week's daily buckets), from posts before the range too;
* alerts, acknowledgements, silences and responses: their tables; effects from
  :func:`sentinel.alerting.responses.evaluate_effect`;
* repost trees: a repost's parent is the post whose author it quotes first ("//@name:"), the
  story's original otherwise (Weibo's ``repost_of`` always names the original);
* the written part (原因, 得失, 改进): review notes (:mod:`sentinel.alerting.review`).
"""

from __future__ import annotations

import heapq
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sentinel.alerting.manage import AlertManager, AlertRecord, Silence
from sentinel.alerting.posts import load_watch_posts, story_roots
from sentinel.alerting.responses import (
    DEFAULT_WINDOW,
    Effect,
    ResponseEvent,
    ResponseLog,
    evaluate_effect,
    own_responses,
    time_to_first_response,
)
from sentinel.alerting.review import ReviewNote, ReviewNotes
from sentinel.clock import UTC8, Clock
from sentinel.config import Config
from sentinel.gcpause import gc_paused
from sentinel.post import Author, ScoredPost
from sentinel.risk.base import AlertEvent
from sentinel.store.sql import SqlStore

__all__ = [
    "AuthorRow",
    "Buckets",
    "ReportData",
    "SpreadNode",
    "StoryRow",
    "bucket_size",
    "build_report",
    "spread_tree",
    "summarize",
]

TOPIC_THRESHOLD = 0.5
TOP_N = 10
KOL_FOLLOWERS = 100_000  # the risk engine's default for a KOL (risk option kol_followers)
_QUOTED = re.compile(r"//@([^:：\s/]{1,40})[:：]")


@dataclass(slots=True)
class Buckets:
    """Per-bucket counts over the report range; ``baseline`` is None where history is too short."""

    size: timedelta
    starts: list[datetime] = field(default_factory=list)
    volume: list[int] = field(default_factory=list)
    baseline: list[float | None] = field(default_factory=list)
    negative: list[int] = field(default_factory=list)
    neutral: list[int] = field(default_factory=list)
    positive: list[int] = field(default_factory=list)


@dataclass(slots=True)
class SpreadNode:
    """A post in a repost tree; ``size`` counts it and every repost below it."""

    id: str
    author: str
    followers: int
    verified: bool
    text: str
    at: datetime
    negative: bool
    children: list[SpreadNode] = field(default_factory=list)
    size: int = 1

    def to_json(self, depth: int = 3) -> dict[str, Any]:
        return {
            "id": self.id,
            "author": self.author,
            "followers": self.followers,
            "size": self.size,
            "children": [c.to_json(depth - 1) for c in self.children[:TOP_N]] if depth > 0 else [],
        }


@dataclass(frozen=True, slots=True)
class StoryRow:
    """A post and its reposts in the range."""

    key: str
    text: str
    author: str
    posts: int
    reposts: int
    negative_share: float
    first_at: datetime
    url: str | None
    tree: SpreadNode | None = None


@dataclass(frozen=True, slots=True)
class AuthorRow:
    """An author's posts in the range."""

    id: str
    name: str
    posts: int
    followers: int
    verified: bool
    negative_share: float


@dataclass(slots=True)
class ReportData:
    """Everything the report shows, as numbers (also written as ``report.json``)."""

    watch: str
    query: str | None
    since: datetime
    until: datetime
    generated_at: datetime
    tz: tzinfo
    posts: int = 0
    sentiment: dict[str, int] = field(default_factory=dict)
    buckets: Buckets = field(default_factory=lambda: Buckets(timedelta(hours=1)))
    topics: list[tuple[str, int]] = field(default_factory=list)
    stories: list[StoryRow] = field(default_factory=list)
    authors: list[AuthorRow] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)
    responses: list[ResponseEvent] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    first_response: tuple[datetime, datetime, timedelta] | None = None
    resolution: timedelta | None = None
    notable: list[ScoredPost] = field(default_factory=list)
    peak_level: str | None = None
    peak_risk: float = 0.0
    spreaders: list[SpreadNode] = field(default_factory=list)
    kols: list[AuthorRow] = field(default_factory=list)
    notes: list[ReviewNote] = field(default_factory=list)
    # the watch's posts in the range themselves (not in report.json): for the briefings' hot words
    in_range: list[ScoredPost] = field(default_factory=list, repr=False)

    def share(self, label: str) -> float:
        return self.sentiment.get(label, 0) / self.posts if self.posts else 0.0

    def to_json(self) -> dict[str, Any]:
        b = self.buckets
        return {
            "watch": self.watch,
            "query": self.query,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "posts": self.posts,
            "sentiment": dict(self.sentiment),
            "sentiment_share": {k: round(self.share(k), 4) for k in ("negative", "neutral", "positive")},
            "buckets": {
                "size_seconds": b.size.total_seconds(),
                "starts": [s.isoformat() for s in b.starts],
                "volume": b.volume,
                "baseline": b.baseline,
                "negative": b.negative,
                "neutral": b.neutral,
                "positive": b.positive,
            },
            "topics": [{"label": k, "posts": v} for k, v in self.topics],
            "stories": [
                {
                    "key": s.key,
                    "text": s.text,
                    "author": s.author,
                    "posts": s.posts,
                    "reposts": s.reposts,
                    "negative_share": round(s.negative_share, 4),
                    "first_at": s.first_at.isoformat(),
                    "url": s.url,
                    "tree": s.tree.to_json() if s.tree else None,
                }
                for s in self.stories
            ],
            "spreaders": [
                {"id": n.id, "author": n.author, "followers": n.followers, "reposts_below": n.size - 1}
                for n in self.spreaders
            ],
            "kols": [
                {
                    "id": a.id,
                    "name": a.name,
                    "posts": a.posts,
                    "followers": a.followers,
                    "verified": a.verified,
                    "negative_share": round(a.negative_share, 4),
                }
                for a in self.kols
            ],
            "notes": [n.to_json() for n in self.notes],
            "authors": [
                {
                    "id": a.id,
                    "name": a.name,
                    "posts": a.posts,
                    "followers": a.followers,
                    "verified": a.verified,
                    "negative_share": round(a.negative_share, 4),
                }
                for a in self.authors
            ],
            "alerts": [a.to_json() for a in self.alerts],
            "events": [e.to_json() for e in self.events],
            "silences": [s.to_json() for s in self.silences],
            "responses": [r.to_json() for r in self.responses],
            "effects": [e.to_json() for e in self.effects],
            "first_response": None
            if self.first_response is None
            else {
                "first_alert_at": self.first_response[0].isoformat(),
                "first_response_at": self.first_response[1].isoformat(),
                "seconds": self.first_response[2].total_seconds(),
            },
            "resolution_seconds": None if self.resolution is None else self.resolution.total_seconds(),
            "notable": [sp.to_dict() for sp in self.notable],
            "peak_level": self.peak_level,
            "peak_risk": self.peak_risk,
        }


def bucket_size(since: datetime, until: datetime) -> timedelta:
    """Hours up to a week, days beyond (a chart of 2,000 bars says nothing)."""
    return timedelta(hours=1) if until - since <= timedelta(days=7) else timedelta(days=1)


def _bucketize(posts: Sequence[ScoredPost], since: datetime, until: datetime, size: timedelta) -> Buckets:
    history = 24 if size <= timedelta(hours=1) else 7
    first = since - history * size
    n_hist = history
    n = max(1, int(-(-(until - since) // size)))  # ceil
    counts = [0] * (n_hist + n)
    labels: list[Counter[str]] = [Counter() for _ in range(n_hist + n)]
    for sp in posts:
        i = int((sp.post.created_at - first) // size)
        if 0 <= i < len(counts):
            counts[i] += 1
            labels[i][sp.label] += 1
    b = Buckets(size)
    for j in range(n):
        i = n_hist + j
        b.starts.append(since + j * size)
        b.volume.append(counts[i])
        prev = counts[i - history : i]
        # a baseline needs history: the buckets before the first post in the store are not zeros
        b.baseline.append(float(statistics.median(prev)) if any(counts[:i]) else None)
        b.negative.append(labels[i]["negative"])
        b.neutral.append(labels[i]["neutral"])
        b.positive.append(labels[i]["positive"])
    return b


def summarize(
    data: ReportData,
    posts: Sequence[ScoredPost],
    history: Sequence[ScoredPost] = (),
    *,
    kol_followers: int = KOL_FOLLOWERS,
) -> ReportData:
    """Fill the post-derived numbers of ``data`` from the watch's posts in [since, until)."""
    in_range = [sp for sp in posts if data.since <= sp.post.created_at < data.until]
    data.in_range = in_range
    data.posts = len(in_range)
    data.sentiment = dict(Counter(sp.label for sp in in_range))
    data.buckets = _bucketize(
        [*history, *in_range], data.since, data.until, bucket_size(data.since, data.until)
    )
    topics: Counter[str] = Counter()
    for sp in in_range:
        for label, score in sp.topics.items():
            if score >= TOPIC_THRESHOLD:
                topics[label] += 1
    data.topics = topics.most_common(TOP_N)
    by_story: dict[str, list[ScoredPost]] = defaultdict(list)
    by_author: dict[str, list[ScoredPost]] = defaultdict(list)
    by_id = {sp.post.id: sp for sp in in_range}
    kols: set[str] = set()
    roots = story_roots(in_range)  # a repost of a repost is in its original's story
    for sp in in_range:
        by_story[roots[sp.post.id]].append(sp)
        a = sp.post.author
        aid = a.id or a.name or "?"
        by_author[aid].append(sp)
        if _is_kol(a, kol_followers):
            kols.add(aid)
    # the first TOP_N as sorted() orders them (heapq's are its [:n], ties included), not all sorted
    stories = heapq.nsmallest(TOP_N, by_story.items(), key=lambda kv: (-len(kv[1]), kv[1][0].post.created_at))
    spreaders: list[SpreadNode] = []
    for key, group in stories:
        root = by_id.get(key, group[0])
        tree = spread_tree(root, [sp for sp in group if sp is not root])
        spreaders += _below(tree)
        data.stories.append(
            StoryRow(
                key,
                root.post.text,
                root.post.author.name or root.post.author.id or "?",
                len(group),
                max((sp.post.reposts for sp in group), default=0),
                sum(sp.label == "negative" for sp in group) / len(group),
                min(sp.post.created_at for sp in group),
                root.post.url,
                tree,
            )
        )
    # key spreaders: reposts that carried a story on (their own reposts below them)
    data.spreaders = heapq.nsmallest(
        TOP_N, (n for n in spreaders if n.size > 1), key=lambda n: (-n.size, -n.followers, n.id)
    )
    authors = heapq.nsmallest(
        TOP_N, by_author.items(), key=lambda kv: (-len(kv[1]), -kv[1][-1].post.author.followers)
    )
    data.authors = [_author_row(aid, group) for aid, group in authors]
    data.kols = heapq.nsmallest(
        TOP_N,
        (_author_row(aid, by_author[aid]) for aid in kols),
        key=lambda a: (-a.negative_share * a.posts, -a.followers, a.id),  # the crisis's voices first
    )
    negative = [sp for sp in in_range if sp.label == "negative"] or list(in_range)
    data.notable = heapq.nlargest(TOP_N, negative, key=_reach)
    return data


def _author_row(aid: str, group: Sequence[ScoredPost]) -> AuthorRow:
    last = group[-1].post.author
    return AuthorRow(
        aid,
        last.name or aid,
        len(group),
        max(sp.post.author.followers for sp in group),
        last.verified,
        sum(sp.label == "negative" for sp in group) / len(group),
    )


def _is_kol(a: Author, kol_followers: int) -> bool:
    # the risk engine's rule: many followers, or verified with a real audience
    return a.followers >= kol_followers or (a.verified and a.followers >= 10_000)


def _node(sp: ScoredPost) -> SpreadNode:
    p = sp.post
    return SpreadNode(
        p.id,
        p.author.name or p.author.id or "?",
        p.author.followers,
        p.author.verified,
        p.text,
        p.created_at,
        sp.label == "negative",
    )


def spread_tree(root: ScoredPost, reposts: Sequence[ScoredPost]) -> SpreadNode:
    """The repost tree of a story: each repost hangs under the post of the author it quotes
    first ("//@name:", the one it reposted), under the original when it quotes nobody known."""
    top = _node(root)
    latest: dict[str, SpreadNode] = {}  # author name -> their latest post in the story so far
    if root.post.author.name:
        latest[root.post.author.name] = top
    for sp in sorted(reposts, key=lambda x: (x.post.created_at, x.post.id)):
        node = _node(sp)
        m = _QUOTED.search(sp.post.text)
        parent = latest.get(m.group(1), top) if m else top
        parent.children.append(node)
        if sp.post.author.name:
            latest[sp.post.author.name] = node
    _sizes(top)
    return top


def _sizes(node: SpreadNode) -> int:
    # iterative: a cascade may be thousands deep
    order, stack = [], [node]
    while stack:
        n = stack.pop()
        order.append(n)
        stack.extend(n.children)
    for n in reversed(order):
        n.size = 1 + sum(c.size for c in n.children)
        n.children.sort(key=lambda c: (-c.size, c.at))
    return node.size


def _below(tree: SpreadNode) -> list[SpreadNode]:
    out, stack = [], list(tree.children)
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(n.children)
    return out


def _reach(sp: ScoredPost) -> tuple[float, str]:
    p = sp.post
    return (p.author.followers + 100 * p.reposts + 20 * p.comments + p.likes, p.id)


async def build_report(
    store: SqlStore,
    config: Config,
    watch: str,
    *,
    since: datetime,
    until: datetime,
    clock: Clock,
    window: timedelta = DEFAULT_WINDOW,
    tz: tzinfo = UTC8,
    progress: bool | None = None,
) -> ReportData:
    """Read the store and compute the report for ``watch`` over [since, until)."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("report times need a UTC offset")
    if until <= since:
        raise ValueError("--to must be after --from")
    with gc_paused():  # its objects are many and not cyclic (sentinel.gcpause)
        return await _build_report(store, config, watch, since, until, clock, window, tz, progress)


async def _build_report(
    store: SqlStore,
    config: Config,
    watch: str,
    since: datetime,
    until: datetime,
    clock: Clock,
    window: timedelta,
    tz: tzinfo,
    progress: bool | None,
) -> ReportData:
    spec = next((w for w in config.watches if w.name == watch), None)
    all_events = sorted(await store.alert_events(watch=watch), key=lambda e: e.at)
    size = bucket_size(since, until)
    lookback = max((24 if size <= timedelta(hours=1) else 7) * size, window)
    found = await load_watch_posts(
        store, config, watch, since=since - lookback, until=until + window, progress=progress
    )
    loaded = found.posts  # the watch's posts (reposts included), the brand's own made neutral
    history = [sp for sp in loaded if sp.post.created_at < since]
    data = ReportData(watch, spec.query if spec else None, since, until, clock.now(), tz)
    kol = (config.risk.model_extra or {}).get("kol_followers", KOL_FOLLOWERS)
    summarize(data, loaded, history, kol_followers=int(kol))
    manager = AlertManager(store, clock)
    data.alerts = await manager.alerts_between(watch, since, until)
    # the event before the range sets the level at its start
    data.events = [e for e in all_events if since <= e.at < until]
    prior = [e for e in all_events if e.at < since]
    if prior and prior[-1].event != "resolved":
        data.events.insert(0, prior[-1])
    ranks = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
    live = [e for e in data.events if e.event != "resolved"]
    if live:
        peak = max(live, key=lambda e: (ranks.get(e.level, 0), e.risk))
        data.peak_level = peak.level
        data.peak_risk = max(e.risk for e in live)
    data.silences = [
        s for s in await manager.silences(watch=watch) if s.starts_at < until and s.ends_at > since
    ]
    data.responses = await ResponseLog(store, clock).list(watch=watch, since=since, until=until)
    own = [sp for sp in found.own if since <= sp.post.created_at < until]
    data.responses = sorted([*data.responses, *own_responses(watch, own, data.responses)], key=lambda r: r.at)
    now = min(clock.now(), until + window)
    data_until = await store.last_post_at(until=now)
    data.effects = [
        evaluate_effect(r, loaded, all_events, now=now, window=window, data_until=data_until)
        for r in data.responses
    ]
    data.first_response = time_to_first_response(data.alerts, data.responses)
    data.notes = await ReviewNotes(store, clock).list(watch)
    if data.alerts and all(a.resolved_at for a in data.alerts):
        data.resolution = max(a.resolved_at for a in data.alerts if a.resolved_at) - min(
            a.opened_at for a in data.alerts
        )
    return data
