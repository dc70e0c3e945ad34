"""``sentinel backtest``: the scoring and risk pipeline over a recorded stream, in event time.

Same classifier and risk engine as the daemon, driven by a :class:`ManualClock` that
follows the posts' ``created_at``. No network, no store, no wall clock: the same input
gives the same output, byte for byte.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from sentinel.clock import ManualClock
from sentinel.config import Config, level_rank
from sentinel.nlp.base import sentiment_label
from sentinel.obs.metrics import Metrics
from sentinel.post import Post, PostError, RecentKeys, ScoredPost, parse_post_json
from sentinel.risk.base import AlertEvent, RiskEngine
from sentinel.scoring import Scorer, load_classifier, resighted

__all__ = ["BacktestSummary", "run_backtest"]

CHUNK = 512
DEDUP_WINDOW = 500_000  # recent post keys remembered: duplicates arrive close together


@dataclass
class BacktestSummary:
    posts: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)  # "opened:yellow" -> n
    seconds_in_level: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    first: datetime | None = None
    last: datetime | None = None

    def render(self) -> str:
        lines = [
            f"posts: {self.posts}  duplicates: {self.duplicates}  rejected: {sum(self.rejected.values())}"
        ]
        if self.rejected:
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items())))
        if self.first and self.last:
            lines.append(f"span: {self.first.isoformat()} .. {self.last.isoformat()}")
        opened = {k.split(":")[1]: v for k, v in self.events.items() if k.startswith("opened:")}
        reached = Counter(
            {k.split(":")[1]: v for k, v in self.events.items() if k.split(":")[0] in ("opened", "escalated")}
        )
        lines.append(f"alerts opened: {sum(opened.values())}")
        for level in ("blue", "yellow", "orange", "red"):
            hours = self.seconds_in_level.get(level, 0) / 3600
            lines.append(f"  {level:<7} reached {reached.get(level, 0):>4} time(s), {hours:8.2f} h at level")
        return "\n".join(lines)


class _Resighting:
    """A post seen before: the engine takes its grown counters, it is not classified again."""

    __slots__ = ("post",)

    def __init__(self, post: Post) -> None:
        self.post = post


def _read(lines: Iterable[str | bytes], summary: BacktestSummary) -> Iterator[Post | _Resighting]:
    recent = RecentKeys(DEDUP_WINDOW)
    for line in lines:
        if not line.strip():
            continue
        try:
            post = parse_post_json(line)
        except PostError as exc:
            summary.rejected[exc.reason] += 1
            continue
        if recent.seen(post.key):
            summary.duplicates += 1
            yield _Resighting(post)
            continue
        yield post


def _prescored(post: Post, neutral_band: float) -> ScoredPost | None:
    """A recorded stream may carry scores already (e.g. from ``sentinel export``): reuse them."""
    sentiment = post.extra.get("sentiment")
    if not isinstance(sentiment, dict) or not isinstance(sentiment.get("negative"), int | float):
        return None
    topics_raw = post.extra.get("topics") or []
    topics = {
        str(t["label"]): float(t["score"])
        for t in topics_raw
        if isinstance(t, dict) and "label" in t and isinstance(t.get("score"), int | float)
    }
    negative = float(sentiment["negative"])
    return ScoredPost(post, negative, sentiment_label(negative, neutral_band), topics)


def run_backtest(
    config: Config,
    lines: Iterable[str | bytes],
    out: IO[str],
    *,
    engine: RiskEngine | None = None,
    scorer: Scorer | None = None,
    progress: bool = False,
) -> BacktestSummary:
    """Score and evaluate every post in stream order; write one JSON line per alert event."""
    summary = BacktestSummary()
    metrics = Metrics()
    if scorer is None:
        scorer = Scorer(load_classifier(config.classifier), config.classifier, metrics)
    if engine is None:
        from sentinel.risk import build_risk_engine

        engine = build_risk_engine(config)
    clock = ManualClock()
    level: dict[str, str] = {}
    since: dict[str, datetime] = {}

    def emit(events: list[AlertEvent]) -> None:
        for ev in events:
            out.write(json.dumps(ev.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
            summary.events[f"{ev.event}:{ev.level}"] += 1
            previous = level.get(ev.watch)
            if previous is not None:
                summary.seconds_in_level[previous] += (ev.at - since[ev.watch]).total_seconds()
            if ev.event == "resolved":
                level.pop(ev.watch, None)
            else:
                level[ev.watch] = ev.level
                since[ev.watch] = ev.at

    bar = _progress(progress)
    chunk: list[Post | _Resighting] = []
    for post in _read(lines, summary):
        chunk.append(post)
        if len(chunk) >= CHUNK:
            _run_chunk(chunk, scorer, engine, clock, emit, summary)
            bar(len(chunk))
            chunk = []
    if chunk:
        _run_chunk(chunk, scorer, engine, clock, emit, summary)
        bar(len(chunk))
    for watch, lvl in level.items():
        if level_rank(lvl):
            summary.seconds_in_level[lvl] += (clock.now() - since[watch]).total_seconds()
    return summary


def _run_chunk(
    chunk: list[Post | _Resighting],
    scorer: Scorer,
    engine: RiskEngine,
    clock: ManualClock,
    emit: Callable[[list[AlertEvent]], None],
    summary: BacktestSummary,
) -> None:
    posts = [p for p in chunk if isinstance(p, Post)]
    prescored = {id(p): _prescored(p, scorer.neutral_band) for p in posts}
    fresh = iter(scorer.score_now([p for p in posts if prescored[id(p)] is None]))
    for item in chunk:
        if isinstance(item, _Resighting):
            post = item.post
            scored = resighted([post])[0]
        else:
            post = item
            scored = prescored[id(post)] or next(fresh)
            summary.posts += 1
        clock.advance_to(post.created_at)  # event time: never backwards, even for late posts
        summary.first = summary.first or post.created_at
        summary.last = clock.now()
        engine.observe([scored])
        events = engine.evaluate(clock.now())
        if events:
            emit(events)


def _progress(enabled: bool) -> Callable[[int], object]:
    if not enabled:
        return lambda n: None
    from tqdm import tqdm

    bar = tqdm(unit=" posts", smoothing=0.1)
    return bar.update
