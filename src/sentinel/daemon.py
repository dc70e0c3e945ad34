"""The one lifecycle of every sentinel process, and the parts roles share.

``sentinel run --role all|collect|classify|score|notify`` builds a :class:`Daemon`: the
embedded default (:class:`~sentinel.pipeline.Runtime`) is every role's part in one process,
a scaled-out process is one role's. All of them

* start the same way: open (and migrate) the store, start the role's parts downstream
  first (delivery before risk before the consumer before the sources), then serve
  ``/metrics``, ``/healthz``, ``/readyz`` and the alert API on ``[metrics] listen``;
* stop the same way, once, on SIGINT/SIGTERM or :meth:`Daemon.request_stop`: the parts are
  drained upstream first (sources stop, the bus drains, the risk engine evaluates a last
  time, delivery finishes in-flight sends), then everything closes, and the process exits 0.

The parts two roles share live here: :class:`SourceRunner` (the sources on APScheduler
or as tasks: ``all`` and ``collect``) and :class:`Delivery` (the outbox worker: ``all``,
and ``notify`` behind the ``notify`` lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from sentinel.allocator import trim_forever
from sentinel.clock import Clock, SystemClock
from sentinel.config import Config
from sentinel.gcpause import freeze_startup
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent
from sentinel.sources.base import CursorStore, Source, SourceContext, SourceHealth
from sentinel.store import SqlStore
from sentinel.store.lease import default_holder

__all__ = ["Daemon", "Delivery", "SourceRunner", "open_store"]

log = logging.getLogger(__name__)


async def open_store(store: SqlStore, *, retries: int = 0) -> None:
    """Open (and migrate), retrying ``retries`` times with backoff: in scale-out the database
    may still be starting, or another process may be running the same migration right now."""
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            await store.open()
            return
        except Exception as exc:
            if attempt == retries:
                raise
            log.warning("store not ready (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 10.0)


class Daemon:
    """Start, serve, stop once. Subclasses (the roles) add their parts in three hooks:
    :meth:`_start` (downstream first), :meth:`_drain` (upstream first) and :meth:`_close`."""

    name = "all"
    open_retries = 7  # a role waits for a database that is still starting

    def __init__(self, config: Config, *, clock: Clock | None = None, metrics: Metrics | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.metrics = metrics or Metrics()
        self.store = SqlStore(config.storage, self.metrics)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._server: Any = None
        self.started = False
        self._stopped = False
        self._digests: Any = None  # the briefings' scheduler, where this role sends notifications

    async def start(self) -> None:
        await open_store(self.store, retries=self.open_retries)
        await self._start()
        if self.config.digests and self.name in ("all", "notify"):
            from sentinel.digest import DigestScheduler
            from sentinel.notify import build_notifiers

            notifiers = build_notifiers(self.config.notifiers, clock=self.clock, metrics=self.metrics)
            self._digests = DigestScheduler(self.config, self.store, self.clock, notifiers)
            self._digests.start()
        self._tasks.append(asyncio.create_task(trim_forever(), name="malloc-trim"))
        await self._serve()
        self.started = True
        log.info("sentinel started (role %s)", self.name)

    async def _start(self) -> None:
        """Start the role's parts, downstream first."""

    async def _drain(self) -> None:
        """Stop taking work and finish what is in flight, upstream first."""

    async def _close(self) -> None:
        """Close what :meth:`_start` opened (after the server stopped, before the store)."""

    async def _serve(self) -> None:
        if not self.config.metrics.enabled:
            return
        from sentinel.alerting.api import ApiTokens, register_routes
        from sentinel.web.server import WebServer

        self._server = WebServer(
            self.config.metrics.host, self.config.metrics.port, self.metrics, readiness=self.readiness
        )
        # every role serves the alert API: it needs only the store
        watches = [w.name for w in self.config.watches]
        register_routes(self._server, self.store, self.clock, ApiTokens.from_config(self.config), watches)
        if self.config.web.enabled:
            from sentinel.web.console import Console

            console = Console(
                self.store, self.clock, self.config, self.metrics, stopping=self._server.stopping
            )
            console.mount(self._server.fastapi)
        await self._server.start()

    async def readiness(self) -> dict[str, bool]:
        # a read probe passes on a locked or full database: writes must be going through too
        return {"store": self.store.writable and await self.store.ping(), **await self._readiness()}

    async def _readiness(self) -> dict[str, bool]:
        return {self.name: self.started and not self._stopping.is_set()}

    async def stop(self) -> None:
        """Drain the parts, then close everything; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        try:
            await self._drain()
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self._server is not None:
                await self._server.stop()
            if self._digests is not None:
                await self._digests.stop()
            await self._close()
            await self.store.close()
            if self.started:  # a failed start is reported by whoever started it
                log.info("sentinel stopped (role %s)", self.name)

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Run until SIGINT or SIGTERM (or :meth:`request_stop`), then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            frozen = freeze_startup()  # out of the full collections' way (sentinel.gcpause)
            log.debug("%d objects made while starting frozen", frozen)
            await self._stopping.wait()
        finally:
            await self.stop()


# -- the sources ------------------------------------------------------------------------------------


class SourceRunner:
    """The configured sources: polling ones on APScheduler, streaming ones as tasks.

    ``make_sink(name)`` gives each source what it writes to (the bus, through a
    :class:`~sentinel.pipeline.RuntimeSink` or the collector's counting sink).
    """

    def __init__(
        self,
        config: Config,
        clock: Clock,
        metrics: Metrics,
        cursors: CursorStore,
        make_sink: Callable[[str], Awaitable[Any]],
        stopping: asyncio.Event,
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self.cursors = cursors
        self.make_sink = make_sink
        self.stopping = stopping
        self.sources: list[tuple[Source, SourceContext, Any]] = []
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        from sentinel.sources import build_source

        for sc in self.config.sources:
            if not sc.enabled:
                continue
            health = SourceHealth(sc.name, self.metrics)
            ctx = SourceContext(
                config=sc, clock=self.clock, cursors=self.cursors, metrics=self.metrics, health=health
            )
            source = build_source(ctx)
            sink = await self.make_sink(sc.name)
            self.sources.append((source, ctx, sink))
            if source.streaming:
                self._tasks.add(asyncio.create_task(self._stream(source, sink), name=f"source-{sc.name}"))
            else:
                # first run right away, with a little jitter so sources don't stampede
                first = random.uniform(0, min(2.0, sc.interval / 10))
                self.scheduler.add_job(
                    self._poll,
                    IntervalTrigger(seconds=max(sc.interval, 1.0), jitter=max(sc.interval * 0.1, 0.5)),
                    args=(source, ctx, sink),
                    id=sc.name,
                    max_instances=1,
                    coalesce=True,
                    # APScheduler needs wall-clock datetimes for its own timers (not event time)
                    next_run_time=datetime.now(UTC) + timedelta(seconds=first),
                )
        self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for source, _, _ in self.sources:
            with contextlib.suppress(Exception):
                await source.close()

    async def _stream(self, source: Source, sink: Any) -> None:
        """Until the stream ends or the daemon stops; a crash restarts it with backoff."""
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                await source.collect(sink)
                return  # a finite stream (a file without follow, a finished scenario)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a source bug must not take the daemon down
                log.exception("source %s failed; restarting in %.0fs", source.name, backoff)
                self.metrics.fetch_errors.labels(source.name, type(exc).__name__).inc()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def _poll(self, source: Source, ctx: SourceContext, sink: Any) -> None:
        if self.stopping.is_set():
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # so that stop() cancels a poll in flight
        try:
            await source.collect(sink)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("source %s run failed", source.name)
            ctx.health.failure(self.clock.now(), "internal", repr(exc)[:200])
        finally:
            if task is not None:
                self._tasks.discard(task)


# -- delivery ---------------------------------------------------------------------------------------


class Delivery:
    """The outbox delivery worker (:class:`~sentinel.notify.dispatcher.Dispatcher`).

    With ``lease_ttl`` it runs only while this process holds the ``notify`` lease (one
    deliverer across the fleet; a standby takes over when the holder stops renewing);
    without, it runs from :meth:`start` to :meth:`stop` (the embedded daemon).
    """

    def __init__(
        self,
        config: Config,
        store: SqlStore,
        clock: Clock,
        metrics: Metrics,
        *,
        notifiers: Sequence[Any] | None = None,
        lease_ttl: float | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self._notifiers = notifiers
        self.lease_ttl = lease_ttl
        self.holder = default_holder("notify")
        self.dispatcher: Any = None  # while delivering
        self._lead_task: asyncio.Task[None] | None = None
        self._filter = self._build()  # which channels want an event (no sending)

    def _build(self) -> Any:
        from sentinel.notify import build_notifiers
        from sentinel.notify.dispatcher import Dispatcher

        notifiers = (
            list(self._notifiers)
            if self._notifiers is not None
            else build_notifiers(list(self.config.notifiers), clock=self.clock, metrics=self.metrics)
        )
        return Dispatcher(
            notifiers, self.store, self.clock, self.metrics, public_url=self.config.web.public_url
        )

    @property
    def channels(self) -> int:
        return len(self._filter.notifiers)

    def channels_for(self, event: AlertEvent) -> list[str]:
        return self._filter.channels_for(event)

    def wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    async def start(self) -> None:
        if self.lease_ttl is None:
            self.dispatcher = self._filter
            await self.dispatcher.start()
        else:
            self._lead_task = asyncio.create_task(self._lead(self.lease_ttl), name="notify")

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - the dispatcher's contract
        if self._lead_task is not None:
            self._lead_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lead_task
            self._lead_task = None
        if self.dispatcher is not None:
            await self.dispatcher.stop(timeout=timeout)
            self.dispatcher = None

    async def _lead(self, ttl: float) -> None:
        lease = self.store.lease("notify", self.holder, ttl=ttl, clock=self.clock)
        try:
            while True:
                try:
                    held = await lease.acquire()
                except Exception as exc:
                    log.warning("lease check failed: %s", exc)
                    held = self.dispatcher is not None  # keep going through a short database outage
                if held and self.dispatcher is None:
                    # a dispatcher owns (and closes) its notifiers: a fresh one each time we lead
                    self.dispatcher = self._build()
                    await self.dispatcher.start()
                elif not held and self.dispatcher is not None:
                    await self.dispatcher.stop(timeout=10.0)
                    self.dispatcher = None
                if self.dispatcher is not None:
                    self.dispatcher.wake()  # events written by the scorer in another process
                await asyncio.sleep(lease.ttl / 5)
        finally:
            if self.dispatcher is not None:
                await self.dispatcher.stop(timeout=10.0)
                self.dispatcher = None
            with contextlib.suppress(Exception):
                await lease.release()
