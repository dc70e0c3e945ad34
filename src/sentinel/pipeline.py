"""The daemon: sources -> bus -> classifier -> store -> risk engine -> notifiers, in one process.

:class:`Runtime` is every role's part in one process (``sentinel run``, ``--role all``):
the sources, the consumer (the classify role's, shared with
:class:`~sentinel.roles.ClassifyRuntime`), the risk engine on the wall clock, and delivery.
Its lifecycle (start, signals, drain, stop once) is :class:`~sentinel.daemon.Daemon`'s, the
same as every scaled-out role's; alert events leave the engine through the one
:class:`~sentinel.alerting.events.EventPath`.

A batch is acknowledged on the bus only once the store committed it. While the store
refuses writes (locked, full, restarting) the batch is retried with capped backoff, the bus
fills up and the sources wait on it; ``/readyz`` says "not ready" meanwhile. See
docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from sentinel.alerting.events import EventPath
from sentinel.bus import Bus, Envelope, build_bus
from sentinel.clock import Clock
from sentinel.config import Config, ConfigError
from sentinel.daemon import Daemon, Delivery, SourceRunner
from sentinel.nlp.scoring import Scorer, load_classifier, resighted
from sentinel.obs.metrics import Metrics
from sentinel.post import Post, PostError, ScoredPost, parse_post
from sentinel.risk.base import AlertEvent, RiskEngine
from sentinel.sources.base import Source, SourceContext
from sentinel.store.retry import Backoff, data_fault, describe

__all__ = ["Runtime", "RuntimeSink"]

log = logging.getLogger(__name__)
WARM_START_WINDOW = timedelta(hours=24)
TICK_SECONDS = 5.0


class RuntimeSink:
    """What a source writes to: validates, counts rejections, publishes with backpressure."""

    def __init__(self, source: str, bus: Bus, metrics: Metrics) -> None:
        self.source = source
        self.bus = bus
        self.metrics = metrics
        self.accepted = 0
        self.rejected = 0

    def validate(self, record: Mapping[str, Any] | Post) -> Post | None:
        """The record as a post, or None when it is invalid (rejection counted)."""
        if isinstance(record, Post):
            return record
        try:
            return parse_post(record)
        except PostError as exc:
            self.reject(exc.reason, exc.detail)
            return None

    async def put(self, record: Mapping[str, Any] | Post) -> bool:
        post = self.validate(record)
        if post is None:
            return False
        await self.bus.publish(post, self.source)
        self.accepted += 1
        return True

    def reject(self, reason: str, detail: str) -> None:
        self.rejected += 1
        self.metrics.posts_rejected.labels(self.source, reason).inc()
        log.warning("rejected record: %s: %s", reason, detail, extra={"source": self.source})

    async def flush(self) -> None:
        await self.bus.drain()


class Runtime(Daemon):
    """All of sentinel in one asyncio process: every role's part (the embedded default).

    The parts, downstream first: delivery (the outbox worker), the risk engine (warmed from
    stored posts, evaluated after every stored batch and every 5 s), the consumer (bus ->
    classify -> store -> ack) and the sources. The lifecycle is :class:`~sentinel.daemon.Daemon`'s.

    >>> # asyncio.run(Runtime(load_config("config/sentinel.toml")).run())
    """

    name = "all"
    open_retries = 0  # one process: a database that is not there is an error to report now
    drain_timeout = 30.0

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        risk: RiskEngine | None = None,
        scorer: Scorer | None = None,
        notifiers: Sequence[Any] | None = None,
    ) -> None:
        super().__init__(config, clock=clock, metrics=metrics)
        self.bus: Bus = build_bus(config.bus)
        self._risk = risk
        self._scorer = scorer
        self._notifiers = notifiers
        self.runner: SourceRunner | None = None
        self.delivery: Delivery | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._risk_lock = asyncio.Lock()

    # -- start / stop ------------------------------------------------------------------------

    async def _start(self) -> None:
        await self.bus.start()
        if self._scorer is None:
            classifier = await asyncio.to_thread(load_classifier, self.config.classifier)
            self._scorer = Scorer(classifier, self.config.classifier, self.metrics)
        if self._risk is None:
            from sentinel.risk import build_risk_engine

            try:
                self._risk = build_risk_engine(self.config, metrics=self.metrics)
            except ValueError as exc:
                raise ConfigError(f"{self.config.path or '<config>'}: {exc}") from None
        # which watches each stored post belongs to is decided as it is stored; a watch whose
        # rule is new or changed is decided again over the stored posts first (store/watches.py)
        from sentinel.store.membership import Membership

        await self.store.use_watches(Membership.from_config(self.config))
        await self._warm_start()
        self.delivery = Delivery(self.config, self.store, self.clock, self.metrics, notifiers=self._notifiers)
        self.events = EventPath(
            self.store, self.clock, self.metrics, self.delivery.channels_for, wake=self.delivery.wake
        )
        await self.delivery.start()
        self._consumer = asyncio.create_task(self._consume(), name="sentinel-consumer")
        self._ticker = asyncio.create_task(self._tick(), name="sentinel-ticker")
        self.runner = SourceRunner(
            self.config, self.clock, self.metrics, self.store, self._sink, self._stopping
        )
        from sentinel.store.retention import RetentionJob

        RetentionJob(self.store, self.config.storage, self.clock).schedule(self.runner.scheduler)
        await self.runner.start()
        log.info(
            "sentinel started: %d source(s), %d watch(es), %d notifier(s), model %s",
            len(self.sources),
            len(self.config.watches),
            self.delivery.channels,
            self.scorer.model_name,
        )

    async def _sink(self, source: str) -> RuntimeSink:
        return RuntimeSink(source, self.bus, self.metrics)

    @property
    def sources(self) -> list[tuple[Source, SourceContext, RuntimeSink]]:
        return self.runner.sources if self.runner is not None else []

    @property
    def scorer(self) -> Scorer:
        assert self._scorer is not None, "start() first"
        return self._scorer

    @property
    def risk(self) -> RiskEngine:
        assert self._risk is not None, "start() first"
        return self._risk

    async def _warm_start(self) -> None:
        """Rebuild window state from stored posts; take open alert levels from the store."""
        now = self.clock.now()
        posts = [sp async for sp in self.store.scored_posts(since=now - WARM_START_WINDOW)]
        self.risk.warm_start(posts, await self.store.open_alert_levels(), now)
        if posts:
            log.info("risk engine warmed with %d stored post(s)", len(posts))

    async def _readiness(self) -> dict[str, bool]:
        return {
            "bus": self._consumer is not None and not self._consumer.done(),
            "sources": self.started and not self._stopping.is_set(),
        }

    async def _drain(self) -> None:
        """Sources stop, the bus drains, the risk engine evaluates a last time, delivery finishes."""
        if self.runner is not None:
            await self.runner.stop()
        if self._consumer is not None and not self._consumer.done():
            try:
                await asyncio.wait_for(self.bus.drain(), self.drain_timeout)
            except TimeoutError:
                log.warning(
                    "bus not drained after %.0fs; %d post(s) will be re-read",
                    self.drain_timeout,
                    self.bus.depth(),
                )
        for worker in (self._consumer, self._ticker):
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        if self._risk is not None and self.started:
            try:
                await self._evaluate()
            except Exception:
                log.exception("last risk evaluation failed")
        if self.delivery is not None:
            await self.delivery.stop(timeout=10.0)

    async def _close(self) -> None:
        await self.bus.close()

    # -- the hot path ------------------------------------------------------------------------

    async def _consume(self) -> None:
        cfg = self.config.bus
        # Two stages overlap: batch N+1 is looked up and classified (the classifier runs in its
        # thread) while batch N is written and fed to the risk engine; commits stay in bus
        # order. A post in two adjacent batches may be scored twice: the store's identity
        # makes the second one "seen again", as it does for a concurrent writer.
        committing: asyncio.Task[None] | None = None
        try:
            while True:
                batch = await self.bus.get_batch(cfg.batch_size, cfg.batch_wait)
                self.metrics.bus_depth.set(self.bus.depth())
                staged: _Staged | BaseException
                try:
                    staged = await self._stage(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    staged = exc
                if committing is not None:
                    await committing
                committing = asyncio.create_task(self._commit_or_retry(batch, staged))
        finally:
            if committing is not None and not committing.done():
                committing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await committing

    async def _commit_or_retry(self, batch: Sequence[Envelope], staged: _Staged | BaseException) -> None:
        """Store the batch, however long the store takes to accept it; acknowledge it only then.

        A storage fault (locked, full, unreachable) is retried with capped backoff, holding
        the batch: the consumer takes no more, the bus fills, and the sources wait on it. A
        data fault (a record the database refuses) splits the batch until the record is
        alone, and only that one is rejected.
        """
        retry = Backoff()
        while True:
            try:
                if isinstance(staged, BaseException):
                    raise staged
                await self._commit(staged)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if data_fault(exc):
                    await self._commit_apart(batch, exc)
                    return
                delay = retry.next_delay()
                log.warning(
                    "batch of %d not stored (%s); not acknowledged, retrying in %.1fs",
                    len(batch),
                    describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                staged = await self._restage(batch)

    async def _commit_apart(self, batch: Sequence[Envelope], exc: Exception) -> None:
        if len(batch) == 1:
            env = batch[0]
            self.metrics.posts_rejected.labels(env.source, "unstorable").inc()
            log.error(
                "post %s/%s cannot be stored (%s); rejected",
                env.post.platform,
                env.post.id,
                describe(exc),
                extra={"source": env.source},
            )
            await self.bus.ack(batch)
            return
        half = len(batch) // 2
        for part in (batch[:half], batch[half:]):
            await self._commit_or_retry(part, await self._restage(part))

    async def _restage(self, batch: Sequence[Envelope]) -> _Staged | BaseException:
        try:
            return await self._stage(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return exc

    async def process(self, batch: Sequence[Envelope]) -> list[AlertEvent]:
        """Classify what is new, store it with its scores, update risk, emit alert events."""
        return await self._commit(await self._stage(batch))

    async def _stage(self, batch: Sequence[Envelope]) -> _Staged:
        """What is new in the batch, classified; nothing is written yet."""
        unique: dict[tuple[str, str], Envelope] = {}
        for env in batch:
            unique[env.post.key] = env  # the latest sighting of a post in one batch wins
        known = await self.store.known(unique)
        fresh = [e for k, e in unique.items() if k not in known]
        seen = [(e.post, e.source) for k, e in unique.items() if k in known]
        scored = await self.scorer.score([e.post for e in fresh])
        return _Staged(batch, fresh, seen, scored)

    async def _commit(self, staged: _Staged) -> list[AlertEvent]:
        """Store the staged batch with its scores, update risk, emit alert events, ack.

        Only the store write may raise: once it committed, the posts are the store's, and
        whatever happens next must not make the caller write (and observe) them again.
        """
        fresh = staged.fresh
        new = await self.store.write_batch(
            [(sp, e.source) for sp, e in zip(staged.scored, fresh, strict=True)],
            staged.seen,
            model=self.scorer.model_name,
            now=self.clock.now(),
        )
        now_mono = time.monotonic()
        for env in fresh:
            self.metrics.pipeline_latency_seconds.observe(now_mono - env.enqueued_at)
        events: list[AlertEvent] = []
        if new or staged.seen:
            try:
                async with self._risk_lock:
                    self.risk.observe([*new, *resighted(p for p, _ in staged.seen)])
                    events = await self._evaluate_locked()
            except Exception:
                log.exception("risk update after a stored batch failed")
        await self.bus.ack(staged.batch)
        return events

    async def _tick(self) -> None:
        """Evaluate on a timer too: quiet periods must still de-escalate and resolve alerts."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await self._evaluate()
            except Exception:
                log.exception("risk evaluation failed")

    async def _evaluate(self) -> list[AlertEvent]:
        async with self._risk_lock:
            return await self._evaluate_locked()

    async def _evaluate_locked(self) -> list[AlertEvent]:
        """Evaluate, and hand the events to the event path (which keeps what the store refuses)."""
        return await self.events.save_or_keep(self.risk.evaluate(self.clock.now()))


class _Staged(NamedTuple):
    """A batch between the two stages of the consumer: looked up and classified, not stored."""

    batch: Sequence[Envelope]
    fresh: list[Envelope]
    seen: list[tuple[Post, str]]
    scored: list[ScoredPost]
