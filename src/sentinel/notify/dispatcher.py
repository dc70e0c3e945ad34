"""The delivery worker: sends alert events from the store's outbox, once per channel, in order.

``SqlStore.save_events`` writes each alert event and one ``outbox`` row per channel that
wants it in the same transaction, so nothing is lost between the risk engine and a chat
service. One worker task per channel then reads that channel's pending rows in ``id``
order (the order the events happened) and sends them:

* a row is marked ``sent`` in its own transaction right after the service said ok, so a
  restart resends nothing that arrived (and everything that did not);
* a failure holds the channel's queue (order matters more than latency: "resolved" must
  not overtake "opened") and is retried with exponential backoff or the service's
  ``Retry-After``; after ``max_attempts`` tries, or at once for a permanent error, the row
  is parked as ``dead`` and the queue moves on;
* a per-channel rate limiter (:mod:`sentinel.notify.ratelimit`) keeps under the service's
  limit; when more rows wait than it allows (less a reserve), they go out together as one
  digest message — never dropped. Sends from before a restart still count (``sent_ts``);
* silenced events are recorded as sent-skipped (``last_error = "skipped: silenced"``);
* with ``[web] public_url`` set, every event sent carries ``console_url``, its alert's page;
* escalation: a channel with ``escalate_after`` and ``escalate_to`` hands an alert it was
  told about to the second channel once the alert has stayed open and unacknowledged that
  long (once per alert; an ``alert.escalate`` audit entry records it, across restarts and
  processes sharing the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import replace

from sentinel.clock import Clock
from sentinel.notify.base import Notifier, NotifyError, wants
from sentinel.notify.ratelimit import RateLimiter
from sentinel.notify.sanitize import redact_text
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent
from sentinel.store.alerts import Audit
from sentinel.store.base import Store
from sentinel.store.outbox import OutboxEntry

__all__ = ["Dispatcher", "OutboxEntry"]

log = logging.getLogger(__name__)

SKIPPED_SILENCED = "skipped: silenced"
_FETCH = 200  # rows looked at per step; more pending than the limit allows already means "digest"


def _silenced(entry: OutboxEntry) -> bool:
    return bool(entry.event.factors.get("silenced"))


class Dispatcher:
    """Delivers the outbox through the configured notifiers.

    >>> dispatcher = Dispatcher(notifiers, store, clock, metrics)   # doctest: +SKIP
    >>> await store.save_events(events, dispatcher.channels_for)    # doctest: +SKIP
    >>> await dispatcher.start(); dispatcher.wake()                 # doctest: +SKIP
    >>> await dispatcher.stop(timeout=10)                           # doctest: +SKIP

    ``stop`` lets in-flight sends finish, then closes the notifiers (the dispatcher owns them).
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        store: Store,
        clock: Clock,
        metrics: Metrics,
        *,
        max_attempts: int = 8,
        base_backoff: float = 1.0,
        max_backoff: float = 300.0,
        poll_interval: float = 5.0,
        jitter: float = 0.1,
        claim_ttl: float = 60.0,
        public_url: str | None = None,
    ) -> None:
        self.notifiers: dict[str, Notifier] = {}
        for n in notifiers:
            if n.channel in self.notifiers:
                raise ValueError(f"two notifiers are named {n.channel!r}; give one a name")
            self.notifiers[n.channel] = n
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.max_attempts = max(1, max_attempts)
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.jitter = jitter
        self.limiters = {ch: RateLimiter(getattr(n, "rate_limits", ())) for ch, n in self.notifiers.items()}
        self._wakeups = {ch: asyncio.Event() for ch in self.notifiers}
        self.claim_ttl = claim_ttl
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._claimed: dict[int, float] = {}  # outbox id -> next_attempt_ts before our claim
        self._stopping = False
        self.public_url = public_url.rstrip("/") if public_url else None
        self._halt = asyncio.Event()
        self._escalated: set[tuple[int, str]] = set()  # (alert id, channel) handed on already
        # one escalation round at a time: the background round and one asked for by hand (or
        # by a test) would both find the same alert due and hand it on twice
        self._escalating = asyncio.Lock()

    # -- what the pipeline calls ---------------------------------------------------------

    def channels_for(self, event: AlertEvent) -> list[str]:
        """The channels that want this event (for ``store.save_events``)."""
        return [ch for ch, n in self.notifiers.items() if wants(n.config, event)]

    async def start(self) -> None:
        """Start one delivery task per channel; rows left pending by a previous run go first."""
        if self._tasks:
            return
        self._stopping = False
        await self._seed_limiters()
        for ch, c in (await self.counts()).items():
            if ch not in self.notifiers and c["pending"]:
                log.warning(
                    "notify: %d pending message(s) for channel %r, which is no longer configured",
                    c["pending"],
                    ch,
                )
        for ch in self.notifiers:
            self._wakeups[ch].set()
            self._tasks[ch] = asyncio.create_task(self._run_channel(ch), name=f"notify:{ch}")
        self._halt.clear()
        if any(n.config.escalate_to for n in self.notifiers.values()):
            self._tasks[" escalate"] = asyncio.create_task(self._escalate_forever(), name="notify:escalate")
        await self.refresh_metrics()

    def wake(self) -> None:
        """New outbox rows exist: look now instead of at the next poll."""
        for ev in self._wakeups.values():
            ev.set()

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - the pipeline contract
        """Finish in-flight sends (up to ``timeout`` seconds), then stop and close the notifiers.

        Rows not sent stay ``pending`` and go out after the next ``start``.
        """
        self._stopping = True
        self._halt.set()
        self.wake()
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        self._tasks.clear()
        await self._release()
        for n in self.notifiers.values():
            try:
                await n.close()
            except Exception:  # closing is best effort; a failure here must not block shutdown
                log.exception("notify %s: close failed", n.channel)

    # -- inspection (sentinel alerts, metrics, tests) ------------------------------------

    async def counts(self) -> dict[str, dict[str, int]]:
        """``{channel: {"pending": n, "sent": n, "dead": n}}`` over the whole outbox."""
        return await self.store.outbox_counts()

    async def entries(
        self, *, status: str | None = None, channel: str | None = None, limit: int | None = None
    ) -> list[OutboxEntry]:
        """Outbox rows with their events, oldest first."""
        return await self.store.outbox_entries(status=status, channel=channel, limit=limit)

    async def dead_letters(self, channel: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Messages parked after too many tries or a permanent error, oldest first."""
        return await self.entries(status="dead", channel=channel, limit=limit)

    async def requeue_dead(self, channel: str | None = None) -> int:
        """Give dead messages another full set of tries (after fixing a URL or a secret)."""
        n = await self.store.requeue_dead(channel)
        self.wake()
        await self.refresh_metrics()
        return n

    async def refresh_metrics(self) -> None:
        counts = (await self.counts()).values()
        self.metrics.outbox_pending.set(sum(c["pending"] for c in counts))
        self.metrics.outbox_dead.set(sum(c["dead"] for c in counts))

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 - mirrors stop()
        """Wait until no configured channel has a pending row; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            counts = await self.counts()
            if all(counts.get(ch, {}).get("pending", 0) == 0 for ch in self.notifiers):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)

    # -- the worker ----------------------------------------------------------------------

    async def _seed_limiters(self) -> None:
        # the service still counts what the previous run sent; one UPDATE marks a whole
        # digest, so each distinct sent_ts is one message
        now = self._now()
        for ch, limiter in self.limiters.items():
            if limiter.longest:
                limiter.seed(await self.store.sent_times(ch, now - limiter.longest), now)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def _run_channel(self, channel: str) -> None:
        wake = self._wakeups[channel]
        while not self._stopping:
            wake.clear()
            try:
                delay = await self._step(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # a store hiccup must not kill delivery for good
                log.exception("notify %s: delivery step failed", channel)
                delay = self.poll_interval
            if self._stopping:
                break
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(delay, self.poll_interval))

    async def _step(self, channel: str) -> float:
        """Send what is due on one channel; returns how long to wait before the next step."""
        rows = await self.entries(status="pending", channel=channel, limit=_FETCH)
        if not rows:
            return self.poll_interval
        skipped: list[OutboxEntry] = []
        while rows and _silenced(rows[0]):
            skipped.append(rows.pop(0))
        if skipped:
            await self._mark(skipped, status="sent", error=SKIPPED_SILENCED)
            self.metrics.notifications.labels(channel, "skipped").inc(len(skipped))
            return 0.0
        now = self._now()
        head = rows[0]
        if head.next_attempt_ts > now:
            return head.next_attempt_ts - now
        due: list[OutboxEntry] = []
        for r in rows:
            if _silenced(r) or r.next_attempt_ts > now:
                break
            due.append(r)
        limiter = self.limiters[channel]
        available = limiter.available(now)
        if available < 1:
            return max(limiter.wait(now), 0.01)
        notifier = self.notifiers[channel]
        if len(rows) <= limiter.spare(now):
            batch = due[:1]
        else:
            batch = due[: max(1, int(getattr(notifier, "max_digest", 20)))]
        if not await self._claim(batch, now):
            return 0.0  # another sentinel process took these rows first; look again
        limiter.take(now)
        for r in batch:
            self._link(r.event)
        try:
            await notifier.send([r.event for r in batch])
        except NotifyError as exc:
            if exc.retry_after is not None:
                limiter.pause(self._now() + min(exc.retry_after, self.max_backoff))
            await self._failed(channel, batch, exc)
            return 0.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected library error: retry, never lose the row
            log.exception("notify %s: unexpected error", channel)
            await self._failed(channel, batch, NotifyError(f"{type(exc).__name__}: {exc}", retryable=True))
            return 0.0
        await self._mark(batch, status="sent", error=None)
        self.metrics.notifications.labels(channel, "sent").inc(len(batch))
        if len(batch) > 1:
            log.info("notify %s: sent a digest of %d events", channel, len(batch))
        return 0.0

    def _link(self, event: AlertEvent) -> AlertEvent:
        if self.public_url and event.alert_id is not None:
            event.factors["console_url"] = f"{self.public_url}/alerts/{event.alert_id}"
        return event

    # -- escalation ----------------------------------------------------------------------

    async def _escalate_forever(self) -> None:
        while not self._halt.is_set():
            try:
                await self.escalate_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store hiccup: try again at the next round
                log.exception("notify: escalation round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt.wait(), timeout=self.poll_interval)

    async def escalate_due(self) -> list[tuple[int, str]]:
        """Hand on every open, unacknowledged alert past a channel's ``escalate_after``;
        returns the (alert id, channel) pairs sent now."""
        async with self._escalating:
            return await self._escalate_round()

    async def _escalate_round(self) -> list[tuple[int, str]]:
        now = self.clock.now()
        sent: list[tuple[int, str]] = []
        rules = [
            (n.config, n.config.escalate_after, n.config.escalate_to)
            for n in self.notifiers.values()
            if n.config.escalate_after and n.config.escalate_to in self.notifiers
        ]
        if not rules:
            return sent
        for alert in await self.store.list_alerts(status="open", limit=1000):
            if alert.acked_by:
                continue
            age = (now - alert.opened_at).total_seconds()
            for config, after, to in rules:
                assert after is not None and to is not None
                if age < after or (alert.id, to) in self._escalated:
                    continue
                events = await self.store.alert_events(alert_id=alert.id)
                if not events or not any(wants(config, e) for e in events):
                    continue  # this channel was never told about the alert
                trail = await self.store.audit_trail(target=f"alert:{alert.id}")
                if any(e.action == "alert.escalate" and e.data.get("to") == to for e in trail):
                    self._escalated.add((alert.id, to))
                    continue
                latest = events[-1]
                factors = {**latest.factors, "escalated": {"from": config.channel, "after_s": after}}
                event = self._link(replace(latest, factors=factors))
                try:
                    await self.notifiers[to].send([event])
                except NotifyError as exc:
                    log.warning(
                        "notify %s: escalating alert #%d failed: %s", to, alert.id, redact_text(str(exc))
                    )
                    continue
                self.metrics.notifications.labels(to, "sent").inc()
                await self.store.add_audit(
                    Audit(now, "sentinel", "alert.escalate", f"alert:{alert.id}",
                          {"from": config.channel, "to": to, "after_s": after})
                )  # fmt: skip
                self._escalated.add((alert.id, to))
                sent.append((alert.id, to))
                log.info("notify: alert #%d unacknowledged for %.0fs, escalated to %s", alert.id, age, to)
        return sent

    async def _claim(self, batch: list[OutboxEntry], now: float) -> bool:
        """Take the rows for this send, so that a second sentinel process sharing the store
        (scale-out) cannot send them too. A claim is a ``next_attempt_ts`` in the future:
        if this process dies mid-send, the rows fall due again after ``claim_ttl``."""
        before = {r.id: r.next_attempt_ts for r in batch}
        if await self.store.claim_outbox(before, now, now + self.claim_ttl):
            self._claimed.update(before)
            return True
        return False

    async def _release(self) -> None:
        """After a cancelled send (stop timed out): make the rows due again right away."""
        if not self._claimed:
            return
        claimed, self._claimed = self._claimed, {}
        await self.store.release_outbox(claimed)

    def _backoff(self, attempts: int) -> float:
        delay = min(self.max_backoff, self.base_backoff * 2 ** (attempts - 1))
        return delay * (1.0 - self.jitter * random.random())

    async def _failed(self, channel: str, batch: list[OutboxEntry], exc: NotifyError) -> None:
        now = self._now()
        for r in batch:
            self._claimed.pop(r.id, None)
        error = redact_text(str(exc))[:500]
        dead: list[int] = []
        retry: dict[int, tuple[int, float]] = {}
        for r in batch:
            attempts = r.attempts + 1
            if not exc.retryable or attempts >= self.max_attempts:
                dead.append(r.id)
            else:
                delay = exc.retry_after if exc.retry_after is not None else self._backoff(attempts)
                retry[r.id] = (attempts, now + min(max(delay, 0.0), self.max_backoff))
        await self.store.fail_outbox(dead, retry, error)
        self.metrics.notifications.labels(channel, "failed").inc(len(batch))
        if dead:
            self.metrics.notifications.labels(channel, "dead").inc(len(dead))
            log.error("notify %s: %d message(s) parked as dead: %s", channel, len(dead), error)
        if retry:
            attempts, next_ts = next(iter(retry.values()))
            log.warning(
                "notify %s: %s (attempt %d of %d, retrying in %.1fs)",
                channel,
                error,
                attempts,
                self.max_attempts,
                next_ts - now,
            )
        await self.refresh_metrics()

    async def _mark(self, batch: list[OutboxEntry], *, status: str, error: str | None) -> None:
        for r in batch:
            self._claimed.pop(r.id, None)
        await self.store.mark_outbox(
            [r.id for r in batch], status=status, error=error, at=self._now(), tried=error != SKIPPED_SILENCED
        )
        await self.refresh_metrics()
