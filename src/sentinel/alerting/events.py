"""The one way alert events leave the risk engine: annotate → store → outbox → dispatcher.

Every mode that drives the risk engine hands its events to one :class:`EventPath`: the
embedded daemon (wall-clock ticks), the scorer role and ``sentinel backtest`` (event time,
through :class:`EventTimeFeed`). The path

1. stamps each event with its alert's acknowledgement and its watch's silence
   (:meth:`~sentinel.alerting.manage.AlertManager.annotate`), so that "who has it" and a
   planned campaign's silence reach notifications whichever process raised the event;
2. saves the events and one outbox row per channel that wants each, in one transaction
   (:meth:`~sentinel.store.SqlStore.save_events`), with the caller's cursor and fence;
3. counts and logs them, and wakes the delivery worker of this process, if it has one.

Two policies for a store that refuses the write (docs/reliability.md): the daemon keeps the
events in memory and saves them first at the next evaluation (:meth:`EventPath.save_or_keep`);
the scorer, whose horizon goes in the same transaction, retries in place
(:meth:`EventPath.save_until_stored`). A record the database refuses for its data is
dropped in both: trying again cannot help, and would hold back every later event.

>>> # path = EventPath(store, clock, metrics, dispatcher.channels_for, wake=dispatcher.wake)
>>> # await path.save_or_keep(engine.evaluate(clock.now()))
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sentinel.alerting.manage import AlertManager
from sentinel.clock import Clock, ManualClock
from sentinel.obs.logs import alert_event_fields
from sentinel.obs.metrics import Metrics
from sentinel.post import ScoredPost
from sentinel.risk.base import AlertEvent, RiskEngine
from sentinel.store.base import Store
from sentinel.store.lease import LeaseLost
from sentinel.store.retry import Backoff, data_fault, describe

__all__ = ["EventPath", "EventTimeFeed"]

log = logging.getLogger(__name__)

ChannelsFor = Callable[[AlertEvent], list[str]]
Fence = Callable[[Any], Awaitable[None]]


class EventPath:
    """Annotate, store and queue alert events; then count, log and wake delivery."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        channels_for: ChannelsFor,
        *,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.alerts = AlertManager(store, clock)
        self.metrics = metrics
        self.channels_for = channels_for
        self.wake = wake
        self.unsaved: list[AlertEvent] = []  # refused by the store; saved first next time
        self.saved: list[AlertEvent] = []  # every event this process stored (tests, logs)

    async def save(
        self,
        events: Sequence[AlertEvent],
        *,
        cursor: tuple[str, str] | None = None,
        fence: Fence | None = None,
    ) -> list[AlertEvent]:
        """One try: annotate and store ``events`` (with ``cursor``, under ``fence``); raises
        whatever the store raised. Returns the events stored."""
        annotated = await self.alerts.annotate(events)
        kept = await self.store.save_events(annotated, self.channels_for, cursor=cursor, fence=fence)
        for ev in kept:
            self.metrics.alert_events.labels(ev.watch, ev.level, ev.event).inc()
            log.info("alert %s, risk %.0f", ev.event, ev.risk, extra=alert_event_fields(ev))
        self.saved.extend(kept)
        if kept and self.wake is not None:
            self.wake()
        return kept

    async def save_or_keep(self, events: Sequence[AlertEvent]) -> list[AlertEvent]:
        """The daemon's policy: events the store refuses are kept, in order, and saved before
        the next ones (the engine has moved on: they must not be lost)."""
        pending = [*self.unsaved, *events]
        if not pending:
            return []
        try:
            kept = await self.save(pending)
        except Exception as exc:
            if data_fault(exc):
                log.error("%d alert event(s) cannot be stored (%s); dropped", len(pending), describe(exc))
                self.unsaved = []
                return []
            if not self.unsaved:
                log.warning(
                    "%d alert event(s) not stored (%s); kept until the store takes them",
                    len(pending),
                    describe(exc),
                )
            self.unsaved = pending
            return []
        self.unsaved = []
        return kept

    async def save_until_stored(
        self,
        events: Sequence[AlertEvent],
        *,
        cursor: tuple[str, str] | None = None,
        fence: Callable[[], Fence | None] = lambda: None,
    ) -> list[AlertEvent]:
        """The scorer's policy: retry with capped backoff until the store takes the events and
        the cursor that goes with them. ``fence()`` is asked before every try; a
        :class:`~sentinel.store.lease.LeaseLost` propagates (another scorer leads now)."""
        retry = Backoff()
        pending = list(events)
        while True:
            try:
                return await self.save(pending, cursor=cursor, fence=fence())
            except LeaseLost:
                raise
            except Exception as exc:
                if data_fault(exc) and pending:
                    log.error("%d alert event(s) cannot be stored (%s); dropped", len(pending), describe(exc))
                    pending = []
                    continue  # the cursor still moves on
                delay = retry.next_delay()
                log.warning(
                    "could not save %d alert event(s) (%s); retrying in %.1fs",
                    len(pending),
                    describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)


class EventTimeFeed:
    """Hands scored posts to the engine in stream order, its clock following ``created_at``.

    The scorer role and ``sentinel backtest`` drive the engine through this one class, so
    they raise the same events from the same stream. With ``tick`` (the default engine's
    ``[risk] tick``: it counts a post at the first tick after it whatever the batch, see
    docs/risk.md "Event time and determinism") a whole batch goes in per ``observe`` /
    ``evaluate``; the batch is cut before a late post (dated before a tick already
    evaluated), so it is counted at the same tick as one-post-at-a-time feeding would.
    Without ``tick`` (any other engine) each post is observed and evaluated on its own.
    """

    def __init__(
        self, engine: RiskEngine, clock: ManualClock | None = None, *, tick: float | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock or ManualClock()
        self.tick = tick
        self.first: datetime | None = None  # the first post's created_at
        self.last: datetime | None = None  # event time of the last evaluation

    def feed(self, scored: Sequence[ScoredPost]) -> list[AlertEvent]:
        """Observe ``scored`` (in stream order); the events the engine raised meanwhile."""
        events: list[AlertEvent] = []
        if not scored:
            return events
        if self.first is None:
            self.first = scored[0].post.created_at
        if self.tick is None:
            for sp in scored:
                self.clock.advance_to(sp.post.created_at)
                self.engine.observe([sp])
                events.extend(self._evaluate())
            return events
        clock, tick = self.clock, self.tick
        batch: list[ScoredPost] = []
        for sp in scored:
            created = sp.post.created_at
            if batch and created.timestamp() < math.floor(clock.now().timestamp() / tick) * tick:
                self.engine.observe(batch)
                events.extend(self._evaluate())
                batch = []
            clock.advance_to(created)  # event time: never backwards, even for late posts
            batch.append(sp)
        self.engine.observe(batch)
        events.extend(self._evaluate())
        return events

    def advance(self, now: datetime) -> list[AlertEvent]:
        """No posts, but time passes (live data gone quiet): evaluate at ``now``."""
        self.clock.advance_to(now)
        return self._evaluate()

    def _evaluate(self) -> list[AlertEvent]:
        self.last = self.clock.now()
        return self.engine.evaluate(self.last)
