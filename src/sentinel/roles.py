"""Roles: ``sentinel run --role collect|classify|score|notify`` — one program, any part of it.

``--role all`` is :class:`~sentinel.pipeline.Runtime` (everything in one process). Scaled
out over an MQTT broker and PostgreSQL (see docs/scaling.md):

* **collect** runs the sources and publishes posts to the broker. With each source cursor
  it saves, in the same transaction, a *watermark*: how many distinct posts it has handed
  to the broker (PUBACK received) per event-time hour, and the newest ``created_at``.
* **classify** (any number) is the Runtime's own consumer — the same ``Runtime.process``
  code path as the embedded daemon (known → classify → write_batch → ack) — with the risk
  engine left to the scorer. Posts are acknowledged to the broker only after the commit.
* **score** (one active, standbys wait on a database lease) reads stored, scored posts in
  event-time order and drives the risk engine exactly as ``sentinel backtest`` does: a
  clock that follows ``created_at``, ``observe`` then ``evaluate`` after every post. It
  advances only up to the point where every collector's watermark is matched by stored
  posts, so several workers storing in any order give the same alert sequence.
* **notify** (one active, on a lease) delivers the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sentinel.alerting.events import EventPath, EventTimeFeed
from sentinel.bus import build_bus
from sentinel.clock import Clock
from sentinel.config import Config, ConfigError
from sentinel.daemon import Daemon, Delivery, SourceRunner
from sentinel.obs.metrics import Metrics
from sentinel.pipeline import Runtime, RuntimeSink
from sentinel.post import Post, RecentKeys, ScoredPost
from sentinel.risk.base import AlertEvent, RiskEngine
from sentinel.sources.base import Source, SourceContext
from sentinel.store import SqlStore
from sentinel.store.lease import Lease, LeaseLost, default_holder
from sentinel.store.retry import describe
from sentinel.store.sql import StoredPost

__all__ = [
    "ROLES",
    "ClassifyRuntime",
    "CollectRole",
    "NotifyRole",
    "ScoreRole",
    "Watermark",
    "build_daemon",
    "run_role",
]

log = logging.getLogger(__name__)
ROLES = ("all", "collect", "classify", "score", "notify")
WATERMARK_PREFIX = "watermark:"
SCORER_CURSOR = "risk:scorer"
# watermark counts per event-time hour: part of what collectors and the scorer write to each
# other, so a constant, not a setting (the tuning is in [scale], config.ScaleConfig)
BUCKET_SECONDS = 3600.0


def build_daemon(
    config: Config, role: str, *, clock: Clock | None = None, metrics: Metrics | None = None
) -> Daemon:
    """The process ``sentinel run --role ROLE`` runs: ``all`` is every role's part in one."""
    if role in ("collect", "classify") and config.bus.type != "mqtt":
        raise ConfigError(f'--role {role} needs [bus] type = "mqtt" (processes share posts through a broker)')
    kinds: dict[str, type[Daemon]] = {
        "all": Runtime,
        "collect": CollectRole,
        "classify": ClassifyRuntime,
        "score": ScoreRole,
        "notify": NotifyRole,
    }
    if role not in kinds:
        raise ConfigError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    return kinds[role](config, clock=clock, metrics=metrics)


async def run_role(
    config: Config, role: str, *, clock: Clock | None = None, metrics: Metrics | None = None
) -> None:
    """Run one role until SIGINT/SIGTERM (``sentinel run --role``)."""
    await build_daemon(config, role, clock=clock, metrics=metrics).run()


# -- watermarks ----------------------------------------------------------------------------------


@dataclass
class Watermark:
    """What one collector's source has handed to the broker, as the scorer reads it."""

    source: str
    buckets: dict[int, int] = field(default_factory=dict)  # event hour -> distinct posts
    max_ts: float | None = None
    idle: bool = False  # nothing published since the counts were taken
    at: float = 0.0  # wall time it was written

    def to_json(self) -> str:
        return json.dumps(
            {
                "buckets": {str(k): v for k, v in self.buckets.items()},
                "max_ts": self.max_ts,
                "idle": self.idle,
                "at": self.at,
            }
        )

    @classmethod
    def from_json(cls, source: str, raw: str) -> Watermark:
        data = json.loads(raw)
        return cls(
            source=source,
            buckets={int(k): int(v) for k, v in (data.get("buckets") or {}).items()},
            max_ts=data.get("max_ts"),
            idle=bool(data.get("idle")),
            at=float(data.get("at") or 0.0),
        )


class CountingSink(RuntimeSink):
    """A :class:`RuntimeSink` that counts what it publishes, for the source's watermark."""

    def __init__(self, source: str, bus: Any, metrics: Metrics, watermarks: WatermarkCursors) -> None:
        super().__init__(source, bus, metrics)
        self.watermarks = watermarks
        self.mark = Watermark(source)
        self.recent = RecentKeys()
        self.dirty = False  # published since the watermark was last written
        self.checkpointed = False  # the source saves cursors (and the counts go with them)

    async def put(self, record: Mapping[str, Any] | Post) -> bool:
        post = self.validate(record)
        if post is None:
            return False
        if self.mark.idle:
            # tell the scorer before the first post leaves: it must wait for us again
            self.mark.idle = False
            try:
                await self.watermarks.write(self)
            except BaseException:
                self.mark.idle = True  # not written: the next put tries again
                raise
        self.dirty = True
        if not self.recent.seen(post.key):
            ts = post.created_at.timestamp()
            bucket = int(ts // BUCKET_SECONDS)
            self.mark.buckets[bucket] = self.mark.buckets.get(bucket, 0) + 1
            self.mark.max_ts = ts if self.mark.max_ts is None else max(self.mark.max_ts, ts)
        await self.bus.publish(post, self.source)
        self.accepted += 1
        return True


class WatermarkCursors:
    """The sources' cursor store: saves each cursor together with that source's watermark.

    Sources call ``flush()`` (all published posts acknowledged by the broker) and then
    ``set_cursor``, so a watermark never counts a post the broker does not have; and since
    cursor and counts are saved in one transaction, a restarted collector that re-reads
    from its cursor counts nothing twice.
    """

    def __init__(self, store: SqlStore, clock: Clock, keep: float = 7 * 86400.0) -> None:
        self.store = store
        self.clock = clock
        self.keep = keep  # event-time seconds of counts kept ([scale] watermark_keep)
        self.sinks: dict[str, CountingSink] = {}
        self._lock = asyncio.Lock()

    async def load(self, sink: CountingSink) -> None:
        self.sinks[sink.source] = sink
        raw = await self.store.get_cursor(WATERMARK_PREFIX + sink.source)
        if raw:
            # as last written: if it said idle, the first post put writes "busy" before it leaves
            sink.mark = Watermark.from_json(sink.source, raw)
        else:
            # a new source: the scorer must wait for it from its very first post
            await self.write(sink)

    async def get_cursor(self, source: str) -> str | None:
        return await self.store.get_cursor(source)

    async def set_cursor(self, source: str, cursor: str) -> None:
        sink = self.sinks.get(source)
        if sink is None:
            await self.store.set_cursor(source, cursor)
            return
        await self.write(sink, cursor=cursor)

    async def write(self, sink: CountingSink, *, cursor: str | None = None) -> None:
        # one writer at a time, and the state is read once the turn comes: an "idle" written by
        # the timer can never land after the "busy" of a post put meanwhile
        async with self._lock:
            await self._write(sink, cursor)

    async def refresh(self, sink: CountingSink) -> None:
        """Called every second, once the bus is drained (all PUBACKs in).

        A source that saves cursors gets its counts written with them; here it is only
        marked idle once nothing new came. A source without cursors (a stream, a simulator)
        gets its counts written here, since nothing else would.
        """
        async with self._lock:
            if sink.checkpointed:
                if sink.dirty or sink.mark.idle:
                    return
                sink.mark.idle = True
            elif sink.dirty:
                sink.dirty = False
            elif sink.mark.idle:
                return
            else:
                sink.mark.idle = True
            await self._write(sink, None)

    async def _write(self, sink: CountingSink, cursor: str | None) -> None:
        mark = sink.mark
        if mark.buckets:
            newest = max(mark.buckets)
            keep = self.keep / BUCKET_SECONDS  # hours of counts (older late posts are not waited for)
            mark.buckets = {b: n for b, n in mark.buckets.items() if b > newest - keep}
        mark.at = self.clock.now().timestamp()
        rows = [(WATERMARK_PREFIX + sink.source, mark.to_json())]
        if cursor is not None:
            rows.append((sink.source, cursor))
        await self.store.save_cursors(rows, mark.at)
        if cursor is not None:
            sink.checkpointed = True
            sink.dirty = False


# -- the roles -------------------------------------------------------------------------------------


class CollectRole(Daemon):
    """Sources → broker, with watermarks for the scorer."""

    name = "collect"

    def __init__(self, config: Config, *, clock: Clock | None = None, metrics: Metrics | None = None) -> None:
        super().__init__(config, clock=clock, metrics=metrics)
        self.bus = build_bus(config.bus, role="collect")
        self.watermarks = WatermarkCursors(self.store, self.clock, self.config.scale.watermark_keep)
        self.runner: SourceRunner | None = None

    @property
    def sources(self) -> list[tuple[Source, SourceContext, CountingSink]]:
        return self.runner.sources if self.runner is not None else []

    async def _start(self) -> None:
        await self.bus.start()
        self.runner = SourceRunner(
            self.config, self.clock, self.metrics, self.watermarks, self._sink, self._stopping
        )
        await self.runner.start()
        self._tasks.append(asyncio.create_task(self._watermarks(), name="watermarks"))

    async def _sink(self, source: str) -> CountingSink:
        sink = CountingSink(source, self.bus, self.metrics, self.watermarks)
        await self.watermarks.load(sink)
        return sink

    async def _readiness(self) -> dict[str, bool]:
        return {**await super()._readiness(), "broker": self.bus.connected}

    async def _watermarks(self) -> None:
        """Every second: sources that published nothing new are marked idle (the scorer need
        not wait for a finished file or a quiet feed), sources without cursors get counts."""
        while True:
            await asyncio.sleep(1.0)
            try:
                # what was published until now is the broker's once this returns; a steady
                # stream never lets the bus drain completely, so do not wait for that
                await self.bus.settle()
                for _, _, sink in self.sources:
                    await self.watermarks.refresh(sink)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not write watermarks; retrying")

    async def _drain(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.bus.drain(), 30.0)

    async def _close(self) -> None:
        await self.bus.close()


class _NoRisk:
    """A classify worker stores and scores posts; alerts are the scorer's business."""

    def observe(self, posts: Sequence[ScoredPost]) -> None:
        return None

    def evaluate(self, now: datetime) -> list[AlertEvent]:
        return []

    def warm_start(self, posts: Sequence[ScoredPost], open_levels: dict[str, str], now: datetime) -> None:
        return None


class ClassifyRuntime(Runtime):
    """A classifier worker: the embedded Runtime's consumer on a shared MQTT subscription.

    Same consumer as the embedded Runtime; no sources, no notifiers, no risk engine. A batch
    that cannot be stored (the database restarting) is retried with backoff until it is, and
    is never acknowledged before — the broker holds it meanwhile.
    """

    name = "classify"
    open_retries = Daemon.open_retries  # a role waits for a database that is still starting

    def __init__(self, config: Config, *, clock: Clock | None = None, metrics: Metrics | None = None) -> None:
        worker = config.model_copy(update={"sources": [], "notifiers": []})
        super().__init__(worker, clock=clock, metrics=metrics, risk=_NoRisk(), notifiers=[])
        self.bus = build_bus(config.bus, role="classify")

    async def _warm_start(self) -> None:
        return None  # no risk state here

    async def _readiness(self) -> dict[str, bool]:
        return {**await super()._readiness(), "broker": self.bus.connected}


class NotifyRole(Daemon):
    """The outbox delivery worker; one process at a time holds the ``notify`` lease."""

    name = "notify"

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        lease_ttl: float = 15.0,
    ) -> None:
        super().__init__(config, clock=clock, metrics=metrics)
        self.delivery = Delivery(config, self.store, self.clock, self.metrics, lease_ttl=lease_ttl)

    @property
    def holder(self) -> str:
        return self.delivery.holder

    @holder.setter
    def holder(self, value: str) -> None:
        self.delivery.holder = value

    @property
    def dispatcher(self) -> Any:
        """The Dispatcher while this process holds the lease, else None."""
        return self.delivery.dispatcher

    async def _start(self) -> None:
        await self.delivery.start()

    async def _drain(self) -> None:
        await self.delivery.stop(timeout=10.0)


# -- the scorer ------------------------------------------------------------------------------------


class ScoreRole(Daemon):
    """The risk engine over stored posts, in event time; one active scorer (a DB lease)."""

    name = "score"

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        risk: RiskEngine | None = None,
        poll: float = 0.2,
        lease_ttl: float = 15.0,
    ) -> None:
        super().__init__(config, clock=clock, metrics=metrics)
        self.poll = poll
        self.lease_ttl = lease_ttl
        self.holder = default_holder("score")
        self._risk_given = risk
        self.risk: RiskEngine | None = None
        self.feed = EventTimeFeed(_NoRisk())
        self.horizon = -math.inf  # every post with created_ts <= horizon has been observed
        self.scale = config.scale
        self.processed: dict[int, float] = {}  # pk -> created_ts, within late_window of the horizon
        self.observed = 0
        self._stall: dict[tuple[str, int], tuple[int, float]] = {}
        self.path = EventPath(self.store, self.clock, self.metrics, lambda ev: [])
        self._scheduler: Any = None
        self.lease: Lease | None = None  # set while leading: event writes are fenced by it
        self._lead_task: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        # the scorer only needs to know which channels want an event (the outbox rows); the
        # notify role delivers them
        channels = Delivery(self.config, self.store, self.clock, self.metrics).channels_for
        self.path = EventPath(self.store, self.clock, self.metrics, channels)
        self._lead_task = asyncio.create_task(self._lead(), name="scorer")
        self._tasks.append(self._lead_task)
        # pruning old posts is a singleton job too; its own lease picks one process
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        from sentinel.store.retention import RetentionJob

        self._scheduler = AsyncIOScheduler(timezone="UTC")
        RetentionJob(self.store, self.config.storage, self.clock).schedule(self._scheduler)
        self._scheduler.start()

    async def _drain(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        # Let the scorer finish the step it is in and give its lease up, rather than cancel it:
        # a task cancelled inside a write transaction could leave its SQLite connection holding
        # the write lock, and every other writer of the file then waited on it (seen in a test:
        # the standby and the ingest retrying for minutes after the leader stopped).
        if self._lead_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._lead_task), timeout=self.lease_ttl)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the role is asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _lead(self) -> None:
        lease = self.store.lease("scorer", self.holder, ttl=self.lease_ttl, clock=self.clock)
        self.lease = lease
        try:
            while not self._stopping.is_set():
                try:
                    if not await lease.acquire():
                        self.risk = None  # a standby: whoever leads next rebuilds from the store
                        await self._pause(lease.ttl / 3)
                        continue
                    if self.risk is None:
                        await self._take_over()
                    progressed = await self.step()
                except asyncio.CancelledError:
                    raise
                except LeaseLost:
                    # stalled past the lease (a long database outage): another scorer may lead
                    # now, and emits what this one did not save; rebuild if we lead again
                    log.warning("scorer lease lost before its events were saved; standing by")
                    self.risk = None
                    progressed = False
                except Exception as exc:
                    log.warning("scorer step failed (%s); retrying", describe(exc))
                    progressed = False
                    await self._pause(1.0)
                if not progressed:
                    await self._pause(self.poll)
        finally:
            with contextlib.suppress(Exception):
                await lease.release()

    async def _take_over(self) -> None:
        """Leader now: rebuild window state from stored posts up to the saved horizon."""
        raw = await self.store.get_cursor(SCORER_CURSOR)
        horizon = float(json.loads(raw)["horizon"]) if raw else -math.inf
        engine: RiskEngine
        tick: float | None = None  # a given engine is fed one post at a time
        if self._risk_given is not None:
            engine = self._risk_given
        else:
            from sentinel.risk import build_risk_engine

            default = build_risk_engine(self.config, self.metrics)
            engine, tick = default, default.options.tick
        self.processed = {}
        self.feed = EventTimeFeed(engine, tick=tick)
        if math.isfinite(horizon):
            self.feed.clock.advance_to(datetime.fromtimestamp(horizon, UTC))
            rows = await self._fetch(horizon - self.scale.warm_window, horizon, None)
            engine.warm_start(
                [r.scored for r in rows], await self.store.open_alert_levels(), self.feed.clock.now()
            )
            self.processed = {
                r.pk: r.created_ts for r in rows if r.created_ts > horizon - self.scale.late_window
            }
            log.info("scorer took over at %s with %d post(s) of history", self.feed.clock.now(), len(rows))
        self.horizon = horizon
        self.risk = engine

    # -- one step ----------------------------------------------------------------------------

    async def step(self) -> bool:
        """Observe every stored post the watermarks say is complete; True if any was."""
        assert self.risk is not None
        upper, settle = await self._limit()
        fresh = await self._fetch(
            self.horizon - self.scale.late_window, upper, settle, limit=self.scale.step_limit
        )
        events = self.feed.feed([r.scored for r in fresh]) if fresh else self._tick_live(upper)
        horizon = max(self.horizon, max(r.created_ts for r in fresh)) if fresh else self.horizon
        if events or fresh:
            # the horizon is saved with the events it produced (one transaction, fenced by the
            # lease): a scorer that takes over after a crash neither emits them again nor skips them
            cursor = (SCORER_CURSOR, json.dumps({"horizon": horizon})) if fresh else None
            await self.path.save_until_stored(
                events, cursor=cursor, fence=lambda: self.lease.fence if self.lease is not None else None
            )
        if fresh:
            self.processed.update((r.pk, r.created_ts) for r in fresh)
            self.observed += len(fresh)
            self.horizon = horizon
            floor = self.horizon - self.scale.late_window
            self.processed = {pk: ts for pk, ts in self.processed.items() if ts > floor}
        return bool(fresh)

    @property
    def events(self) -> list[AlertEvent]:
        """What this process stored (for tests and logs)."""
        return self.path.saved

    def _tick_live(self, upper: float) -> list[AlertEvent]:
        """With live data and nothing pending, time still passes: alerts must cool down."""
        wall = self.clock.now()
        lag = (wall - self.feed.clock.now()).total_seconds()
        if upper < math.inf or not 0 < lag <= self.scale.live_lag:
            return []
        return self.feed.advance(wall)

    async def _limit(self) -> tuple[float, float | None]:
        """How far event time may advance: (inclusive created_ts limit, settle cutoff or None).

        With collectors' watermarks: up to the lowest point where some collector may still
        have a post in flight. Without any: everything stored ``[scale] settle`` ago.
        """
        stored = await self.store.cursors(WATERMARK_PREFIX)
        marks = [Watermark.from_json(name[len(WATERMARK_PREFIX) :], raw) for name, raw in stored.items()]
        wall = self.clock.now().timestamp()
        live = [m for m in marks if m.idle or wall - m.at < self.scale.stale]
        if not live:
            return math.inf, wall - self.scale.settle
        limit = math.inf
        for mark in live:
            limit = min(limit, await self._source_limit(mark, wall))
        return limit, None

    async def _source_limit(self, mark: Watermark, wall: float) -> float:
        first = math.floor(self.horizon / BUCKET_SECONDS) if math.isfinite(self.horizon) else None
        buckets = sorted(b for b in mark.buckets if first is None or b >= first)
        # posts published after the watermark was taken are not in its counts; in a
        # time-ordered stream they are the newer ones
        until = mark.max_ts if mark.max_ts is not None else 1e18
        counts = await self.store.posts_per_hour(mark.source, buckets, until=until)
        for b, stored in zip(buckets, counts, strict=True):
            if stored >= mark.buckets[b] or self._given_up(mark.source, b, stored, wall):
                continue
            return b * BUCKET_SECONDS - 1e-6  # something of this hour is still in flight
        if mark.idle:
            return math.inf
        return mark.max_ts if mark.max_ts is not None else -math.inf

    def _given_up(self, source: str, bucket: int, stored: int, wall: float) -> bool:
        """A count that never matches (a duplicate the collector could not recognise, a
        post another source stored first) must not stop alerting forever."""
        seen = self._stall.get((source, bucket))
        if seen is None or seen[0] != stored:
            self._stall[(source, bucket)] = (stored, wall)
            return False
        if wall - seen[1] < self.scale.stall:
            return False
        log.warning(
            "watermark of %s for hour %d unmatched for %.0fs; moving on", source, bucket, wall - seen[1]
        )
        return True

    async def _fetch(
        self, lower: float, upper: float, settle: float | None, *, limit: int | None = None
    ) -> list[StoredPost]:
        """Stored, scored posts with lower < created_ts <= upper not yet observed, oldest first."""
        if upper == -math.inf:
            return []  # a collector has posts in flight and nothing is known to be complete
        return await self.store.stored_between(
            lower, upper, stored_before=settle, skip=self.processed, limit=limit
        )
