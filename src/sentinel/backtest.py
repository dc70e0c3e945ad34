"""``sentinel backtest``: the scoring and risk pipeline over a recorded stream, in event time.

Same classifier and risk engine as the daemon, driven by a :class:`ManualClock` that
follows the posts' ``created_at``. No network, no wall clock: the same input gives the same
output, byte for byte.

With ``--store URL`` (:class:`StoreSink`) the posts, with their scores, and the alert events
are also written into a store, as the daemon would have written them, so that a team can
review an old case or a drill with ``sentinel report`` / ``alerts`` / ``review note``. No
notification is queued for them: a replay must not page anyone.

Speed (docs/risk.md, "Backtest speed"): each distinct text is classified once
(:class:`~sentinel.nlp.scoring.TextCache`: reposts and copies repeat their text); with the
transformer, classification runs in a worker process one chunk ahead of the engine, so
the two use both cores (torch holds the GIL here, so a thread would not overlap them);
and the default engine takes a whole chunk per ``observe`` / ``evaluate``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from sentinel.alerting.events import EventTimeFeed
from sentinel.batching import chunked
from sentinel.clock import ManualClock
from sentinel.config import ClassifierConfig, Config, level_rank
from sentinel.nlp.base import Classifier, Scores, sentiment_label
from sentinel.nlp.scoring import Scorer, TextCache, load_classifier, resighted
from sentinel.obs.metrics import Metrics
from sentinel.post import Post, PostError, RecentKeys, ScoredPost, parse_post_json
from sentinel.risk.base import AlertEvent, RiskEngine

__all__ = ["CACHE_SIZE", "MAX_JUMP", "BacktestSummary", "ChunkSink", "StoreSink", "run_backtest"]

CHUNK = 2048  # posts read, classified and handed to the engine at a time
# recent post keys remembered (~340 bytes each): a re-fetched post arrives close to its first
# sighting, and one older than this is still recognised by the engine's story index (24 h),
# so only the summary's duplicate count and a wasted classification depend on this
DEDUP_WINDOW = 100_000
CACHE_SIZE = 50_000  # distinct texts remembered with their scores (tens of MB at most)
AHEAD = 2  # chunks classified ahead of the engine by the worker process
# a post dated further than this past the stream so far must be confirmed by the next post
# (see _steady): a quiet day is normal, one post from next year is a broken record
MAX_JUMP = timedelta(days=1)
log = logging.getLogger("sentinel")
# what a chunk left behind: its new posts with their scores, the posts seen again, the events
ChunkSink = Callable[[list[ScoredPost], list[Post], list[AlertEvent]], None]


@dataclass
class BacktestSummary:
    posts: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)  # "opened:yellow" -> n
    seconds_in_level: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    first: datetime | None = None
    last: datetime | None = None
    classified: int = 0  # texts the classifier saw
    cache_hits: int = 0  # posts whose text was classified before (or earlier in the same chunk)
    worker_cpu: float | None = None  # CPU seconds of the classifier worker process, if one ran

    def render(self) -> str:
        lines = [
            f"posts: {self.posts}  duplicates: {self.duplicates}  rejected: {sum(self.rejected.values())}"
        ]
        if self.rejected:
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items())))
        if self.classified or self.cache_hits:
            share = self.cache_hits / max(self.classified + self.cache_hits, 1)
            worker = "" if self.worker_cpu is None else f"  worker CPU: {self.worker_cpu:.1f} s"
            lines.append(
                f"classified: {self.classified} texts  cache hits: {self.cache_hits} ({share:.1%}){worker}"
            )
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


def _read(
    lines: Iterable[str | bytes], summary: BacktestSummary, max_jump: timedelta = MAX_JUMP
) -> Iterator[Post | _Resighting]:
    recent = RecentKeys(DEDUP_WINDOW)
    for post in _steady(_parsed(lines, summary), summary, max_jump):
        if recent.seen(post.key):
            summary.duplicates += 1
            yield _Resighting(post)
            continue
        yield post


def _parsed(lines: Iterable[str | bytes], summary: BacktestSummary) -> Iterator[Post]:
    for line in lines:
        if not line.strip():
            continue
        try:
            yield parse_post_json(line)
        except PostError as exc:
            summary.rejected[exc.reason] += 1


def _steady(posts: Iterable[Post], summary: BacktestSummary, max_jump: timedelta) -> Iterator[Post]:
    """The posts, less those dated far ahead of the stream (rejected as ``clock_jump``).

    The event clock follows the latest ``created_at`` and never goes back, so one post
    dated years ahead would end every window and baseline at once. A post more than
    ``max_jump`` past the latest one so far (or the first post) waits for the next post
    of another id: if that one carries on from it (is not ``max_jump`` or more before it),
    the stream really moved on (a quiet weekend, a sparse stream) and both go through; if
    the stream comes back, the far post was an outlier. One held at the end of the stream
    is rejected too, unless it is the stream's only post.
    """
    latest: datetime | None = None  # the latest created_at passed on
    held: list[Post] = []  # posts after a jump, waiting for another post to confirm it
    for post in posts:
        if held:
            if post.created_at < held[0].created_at - max_jump:
                summary.rejected["clock_jump"] += len(held)  # the stream came back
                held = []
            else:
                held.append(post)
                if any(p.key != held[0].key for p in held):  # a copy does not confirm its original
                    yield from held
                    latest = max([p.created_at for p in held] + ([latest] if latest else []))
                    held = []
                continue
        if latest is None or post.created_at > latest + max_jump:
            held.append(post)
            continue
        yield post
        latest = max(latest, post.created_at)
    if held and latest is None:
        yield from held  # one post (and its copies): nothing to measure it against
    elif held:
        summary.rejected["clock_jump"] += len(held)


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
    # a model with a learnt neutral class records P(neutral) (sentinel classify) or only its
    # label (sentinel export): a recorded "neutral" stays neutral unless P(negative) says more
    recorded = sentiment.get("neutral")
    neutral = float(recorded) if isinstance(recorded, int | float) else None
    if neutral is None and sentiment.get("label") == "neutral":
        neutral = 1.0
    return ScoredPost(post, negative, sentiment_label(negative, neutral_band, neutral), topics)


# -- classification: each distinct text once, optionally in a worker process ---------------

_WORKER_CLASSIFIER: Classifier | None = None


def _worker_start(config: ClassifierConfig) -> None:
    global _WORKER_CLASSIFIER
    _WORKER_CLASSIFIER = load_classifier(config)


def _worker_classify(texts: list[str]) -> list[Scores]:
    assert _WORKER_CLASSIFIER is not None
    return _WORKER_CLASSIFIER.classify(texts)


class _Slot:
    """The scores of one distinct text, filled in when its chunk's classification is done."""

    __slots__ = ("scores",)

    def __init__(self) -> None:
        self.scores: Scores | None = None


@dataclass(slots=True)
class _Chunk:
    items: list[Post | _Resighting]
    scores: list[_Slot | ScoredPost | None]  # per item: its text's slot, a prescored post, or None
    asked: list[_Slot]  # the slots this chunk asked the classifier for, in request order
    texts: list[str]  # their texts
    answer: Future[list[Scores]] | list[Scores]


class _Classification:
    """Classifies the stream chunk by chunk: every distinct text once (a :class:`TextCache` of
    slots, so a text asked for by a chunk still in flight is not asked for again), in the
    main process or in one worker process. Hits and misses are decided in stream order here,
    and the classifier sees the same batches either way, so the output does not depend on
    the worker's timing."""

    def __init__(
        self, scorer: Scorer | None, config: ClassifierConfig, *, cache_size: int, worker: bool
    ) -> None:
        self.config = config
        self.neutral_band = config.neutral_band
        self.cache: TextCache[_Slot] = TextCache(cache_size)
        self.classified = 0
        self.worker_cpu: float | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._scorer = scorer
        if worker:
            # spawn: a fresh interpreter, nothing inherited from this process's threads
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_start,
                initargs=(config,),
            )

    def submit(self, items: list[Post | _Resighting]) -> _Chunk:
        scores: list[_Slot | ScoredPost | None] = []
        asked: list[_Slot] = []
        texts: list[str] = []
        for item in items:
            if isinstance(item, _Resighting):
                scores.append(None)
                continue
            pre = _prescored(item, self.neutral_band)
            if pre is not None:
                scores.append(pre)
                continue
            slot = self.cache.get(item.text)
            if slot is None:
                slot = _Slot()
                self.cache.put(item.text, slot)
                asked.append(slot)
                texts.append(item.text)
            scores.append(slot)
        self.classified += len(texts)
        answer: Future[list[Scores]] | list[Scores] = self._ask(texts) if texts else []
        return _Chunk(items, scores, asked, texts, answer)

    def _ask(self, texts: list[str]) -> Future[list[Scores]] | list[Scores]:
        if self._pool is not None:
            try:
                return self._pool.submit(_worker_classify, texts)
            except BrokenProcessPool as exc:
                self._give_up(exc)
        return self._in_process(texts)

    def _give_up(self, exc: BaseException) -> None:
        # e.g. an embedding whose __main__ a spawned interpreter cannot import: the same
        # batches in this process give the same output, only slower
        if self._pool is not None:
            log.warning("backtest: classifier worker failed (%s); classifying in this process", exc)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _in_process(self, texts: list[str]) -> list[Scores]:
        if self._scorer is None:
            self._scorer = Scorer(load_classifier(self.config), self.config, Metrics())
        return self._scorer.classify(texts)

    def _answer(self, chunk: _Chunk) -> list[Scores]:
        if not isinstance(chunk.answer, Future):
            return chunk.answer
        try:
            return chunk.answer.result()
        except BrokenProcessPool as exc:
            self._give_up(exc)
            return self._in_process(chunk.texts)

    def scored(self, chunk: _Chunk) -> list[ScoredPost]:
        answer = self._answer(chunk)
        for slot, s in zip(chunk.asked, answer, strict=True):
            slot.scores = s
        band = self.neutral_band
        out: list[ScoredPost] = []
        for item, got in zip(chunk.items, chunk.scores, strict=True):
            if isinstance(item, _Resighting):
                out.append(resighted([item.post])[0])
            elif isinstance(got, ScoredPost):
                out.append(got)
            else:
                assert got is not None and got.scores is not None
                s = got.scores
                label = sentiment_label(s.negative, band, s.neutral)
                out.append(ScoredPost(item, s.negative, label, dict(s.topics)))
        return out

    def close(self) -> None:
        if self._pool is not None:
            try:  # what the worker cost, for the summary (the main process's own is the rest)
                self.worker_cpu = self._pool.submit(time.process_time).result()
            except BrokenProcessPool:
                pass
            self._pool.shutdown(wait=True, cancel_futures=True)


def run_backtest(
    config: Config,
    lines: Iterable[str | bytes],
    out: IO[str],
    *,
    engine: RiskEngine | None = None,
    scorer: Scorer | None = None,
    progress: bool = False,
    cache_size: int = CACHE_SIZE,
    worker: bool | None = None,
    max_jump: timedelta = MAX_JUMP,
    sink: ChunkSink | None = None,
) -> BacktestSummary:
    """Score and evaluate every post in stream order; write one JSON line per alert event.

    ``worker``: classify in a worker process (default: yes for the transformer when no
    ``scorer`` is given; the lexicon is cheaper than shipping texts to another process).
    ``max_jump``: how far past the stream so far a post may be dated without the next post
    confirming the jump; an unconfirmed one is rejected (``clock_jump``) and does not move
    the event clock.
    ``sink``: called with each chunk's posts and events (a :class:`StoreSink` writes them).
    """
    summary = BacktestSummary()
    if worker is None:
        worker = scorer is None and config.classifier.type != "lexicon"
    tick: float | None = None  # a given engine is fed one post at a time
    if engine is None:
        from sentinel.risk import build_risk_engine

        default = build_risk_engine(config)
        engine, tick = default, default.options.tick
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

    feed = EventTimeFeed(engine, clock, tick=tick)
    classification = _Classification(scorer, config.classifier, cache_size=cache_size, worker=worker)
    bar = _progress(progress)
    ahead = AHEAD if worker else 0
    pending: deque[_Chunk] = deque()
    try:
        for items in chunked(_read(lines, summary, max_jump), CHUNK):
            pending.append(classification.submit(items))
            while len(pending) > ahead:
                emit(_consume(pending.popleft(), classification, feed, summary, bar, sink))
        while pending:
            emit(_consume(pending.popleft(), classification, feed, summary, bar, sink))
    finally:
        classification.close()
    summary.first, summary.last = feed.first, feed.last
    summary.classified = classification.classified
    summary.cache_hits = classification.cache.hits
    summary.worker_cpu = classification.worker_cpu
    for watch, lvl in level.items():
        if level_rank(lvl):
            summary.seconds_in_level[lvl] += (clock.now() - since[watch]).total_seconds()
    return summary


def _consume(
    chunk: _Chunk,
    classification: _Classification,
    feed: EventTimeFeed,
    summary: BacktestSummary,
    bar: Callable[[int], object],
    sink: ChunkSink | None = None,
) -> list[AlertEvent]:
    scored = classification.scored(chunk)
    events = feed.feed(scored)
    summary.posts += sum(1 for item in chunk.items if not isinstance(item, _Resighting))
    if sink is not None:
        new = [sp for item, sp in zip(chunk.items, scored, strict=True) if not isinstance(item, _Resighting)]
        seen = [item.post for item in chunk.items if isinstance(item, _Resighting)]
        sink(new, seen, events)
    bar(len(chunk.items))
    return events


class StoreSink:
    """Writes a backtest into a store: posts with their scores, alert events and their alerts.

    Times are the stream's (a post is stored "at" the latest ``created_at`` of its chunk), and
    no channel is given an event, so nothing lands in the outbox. The store is refused if it
    already holds alerts of a watch in the config: a second replay would double them.

    >>> with StoreSink(config, "sqlite:///case.db") as sink:  # doctest: +SKIP
    ...     run_backtest(config, lines, out, sink=sink)
    """

    SOURCE = "backtest"

    def __init__(self, config: Config, url: str, *, model: str | None = None) -> None:
        from sentinel.store.sql import SqlStore

        self.config = config
        self.store = SqlStore(config.storage.model_copy(update={"url": url}))
        self.model = model or f"backtest:{config.classifier.type}:{config.classifier.model}"
        self.posts = 0
        self.events = 0
        self._runner = asyncio.Runner()

    def __enter__(self) -> StoreSink:
        try:
            self._runner.run(self._open())
        except BaseException:
            self._runner.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._runner.run(self.store.close())
        finally:
            self._runner.close()

    async def _open(self) -> None:
        await self.store.open()
        taken = sorted(await self.store.alert_watches() & {w.name for w in self.config.watches})
        if taken:
            await self.store.close()
            raise ValueError(
                f"the store already holds alerts of {', '.join(taken)}: load a replay into a fresh store"
            )

    def __call__(self, new: list[ScoredPost], seen: list[Post], events: list[AlertEvent]) -> None:
        if not new and not seen and not events:
            return
        times = [sp.post.created_at for sp in new] + [p.created_at for p in seen] + [e.at for e in events]
        self._runner.run(self._write(new, seen, events, max(times)))

    async def _write(
        self, new: list[ScoredPost], seen: list[Post], events: list[AlertEvent], now: datetime
    ) -> None:
        stored = await self.store.write_batch(
            [(sp, self.SOURCE) for sp in new], [(p, self.SOURCE) for p in seen], model=self.model, now=now
        )
        self.posts += len(stored)
        if events:
            kept = await self.store.save_events(events, lambda _event: [])  # nobody is notified
            self.events += len(kept)


def _progress(enabled: bool) -> Callable[[int], object]:
    if not enabled:
        return lambda n: None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the train extra; the daemon does not need it
        return lambda n: None
    bar = tqdm(unit=" posts", smoothing=0.1)
    return bar.update
