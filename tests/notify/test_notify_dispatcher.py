"""The outbox worker against a real SQLite file and an in-memory notifier."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from notify_support import RecordingNotifier, eventually, make_event

from sentinel.clock import SystemClock
from sentinel.notify.base import NotifyError
from sentinel.notify.dispatcher import Dispatcher
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent
from sentinel.store.sql import SqlStore


async def test_sends_each_event_once_in_order(store: SqlStore, metrics: Metrics) -> None:
    rec = RecordingNotifier()
    d = Dispatcher([rec], store, SystemClock(), metrics, base_backoff=0.01)
    await d.start()
    await store.save_events([make_event(i) for i in range(5)], d.channels_for)
    d.wake()
    assert await d.drain(5)
    await d.stop(2)
    assert [[e.posts[0] for e in batch] for batch in rec.received] == [[f"p{i}"] for i in range(5)]
    assert rec.closed
    assert (
        metrics.registry.get_sample_value(
            "sentinel_notifications_total", {"channel": "rec", "result": "sent"}
        )
        == 5
    )
    assert (await d.counts())["rec"] == {"pending": 0, "sent": 5, "dead": 0}


async def test_min_level_filters_channels(store: SqlStore, metrics: Metrics) -> None:
    low, high = RecordingNotifier("low"), RecordingNotifier("high", min_level="red")
    d = Dispatcher([low, high], store, SystemClock(), metrics)
    assert d.channels_for(make_event(level="orange")) == ["low"]
    assert d.channels_for(make_event(level="red")) == ["low", "high"]


async def test_burst_over_the_limit_becomes_a_digest(store: SqlStore, metrics: Metrics) -> None:
    rec = RecordingNotifier(rate_limits=[(3, 60.0)])
    d = Dispatcher([rec], store, SystemClock(), metrics)
    await store.save_events([make_event(i) for i in range(10)], d.channels_for)
    await d.start()
    assert await d.drain(5)
    await d.stop(2)
    assert len(rec.received) == 1
    assert [e.posts[0] for e in rec.received[0]] == [f"p{i}" for i in range(10)]


async def test_permanent_error_parks_dead_and_queue_moves_on(store: SqlStore, metrics: Metrics) -> None:
    rec = RecordingNotifier()
    rec.fail = lambda evs: NotifyError("bad signature", retryable=False) if evs[0].posts == ["p1"] else None
    d = Dispatcher([rec], store, SystemClock(), metrics)
    await store.save_events([make_event(i) for i in range(3)], d.channels_for)
    await d.start()
    assert await d.drain(5)
    await d.stop(2)
    assert [b[0].posts[0] for b in rec.received] == ["p0", "p2"]
    dead = await d.dead_letters()
    assert [(x.event.posts, x.attempts, x.last_error) for x in dead] == [(["p1"], 1, "bad signature")]
    assert metrics.registry.get_sample_value("sentinel_outbox_dead") == 1
    assert await d.requeue_dead() == 1
    assert (await d.counts())["rec"]["pending"] == 1


async def test_retryable_error_retries_then_dies(store: SqlStore, metrics: Metrics) -> None:
    rec = RecordingNotifier()
    rec.fail = lambda evs: NotifyError("HTTP 503", retryable=True)
    d = Dispatcher([rec], store, SystemClock(), metrics, max_attempts=3, base_backoff=0.01)
    await store.save_events([make_event(0)], d.channels_for)
    await d.start()
    assert await d.drain(5)
    await d.stop(2)
    assert [x.attempts for x in await d.dead_letters()] == [3]
    assert (
        metrics.registry.get_sample_value(
            "sentinel_notifications_total", {"channel": "rec", "result": "failed"}
        )
        == 3
    )


async def test_silenced_events_are_recorded_not_sent(store: SqlStore, metrics: Metrics) -> None:
    rec = RecordingNotifier()
    d = Dispatcher([rec], store, SystemClock(), metrics)
    await store.save_events([make_event(0, silenced=True), make_event(1)], d.channels_for)
    await d.start()
    assert await d.drain(5)
    await d.stop(2)
    assert [b[0].posts for b in rec.received] == [["p1"]]
    entries = await d.entries(channel="rec")
    assert [(e.status, e.last_error) for e in entries] == [("sent", "skipped: silenced"), ("sent", None)]


async def test_sends_before_a_restart_still_count_against_the_limit(
    store: SqlStore, metrics: Metrics
) -> None:
    first = RecordingNotifier(rate_limits=[(4, 60.0)])
    d = Dispatcher([first], store, SystemClock(), metrics)
    await d.start()
    for i in range(3):  # one at a time: three single messages
        await store.save_events([make_event(i)], d.channels_for)
        d.wake()
        assert await d.drain(5)
    await d.stop(2)
    assert len(first.received) == 3
    again = RecordingNotifier(rate_limits=[(4, 60.0)])
    d2 = Dispatcher([again], store, SystemClock(), metrics)
    assert d2.limiters["rec"].available(0.0) == 4
    await d2.start()
    assert d2.limiters["rec"].available(SystemClock().now().timestamp()) == 1
    await d2.stop(2)


async def test_retry_after_is_honoured_and_the_limiter_believes_the_service(
    store: SqlStore, metrics: Metrics
) -> None:
    rec = RecordingNotifier(rate_limits=[(20, 60.0)])
    calls: list[float] = []

    def too_fast(evs: object) -> NotifyError | None:
        calls.append(asyncio.get_running_loop().time())
        return (
            NotifyError("errcode 130101: send too fast", retryable=True, retry_after=2.0)
            if len(calls) == 1
            else None
        )

    rec.fail = too_fast
    d = Dispatcher([rec], store, SystemClock(), metrics, base_backoff=0.01)
    await store.save_events([make_event(0)], d.channels_for)
    await d.start()
    assert d.limiters["rec"].available(SystemClock().now().timestamp()) == 20

    async def tried_once() -> bool:
        return [e.attempts for e in await d.entries()] == [1]

    await eventually(tried_once)
    [entry] = await d.entries()
    assert entry.status == "pending" and "130101" in (entry.last_error or "")
    # the service said "too fast": the channel sends nothing until the time it gave
    assert d.limiters["rec"].available(SystemClock().now().timestamp()) == 0
    assert d.limiters["rec"].available(SystemClock().now().timestamp() + 2.0) == 19  # 1 was tried
    assert await d.drain(20)
    await d.stop(2)
    assert len(calls) == 2 and calls[1] - calls[0] >= 1.9


async def test_stop_lets_the_send_in_flight_finish(store: SqlStore, metrics: Metrics) -> None:
    started = asyncio.Event()

    class Slow(RecordingNotifier):
        async def send(self, events: Sequence[AlertEvent]) -> None:
            started.set()
            await asyncio.sleep(0.3)
            await super().send(events)

    slow = Slow()
    d = Dispatcher([slow], store, SystemClock(), metrics)
    await store.save_events([make_event(0)], d.channels_for)
    await d.start()
    await asyncio.wait_for(started.wait(), 10)  # the send is under way
    await d.stop(timeout=5)
    assert len(slow.received) == 1
    assert [e.status for e in await d.entries()] == ["sent"]


async def test_stop_timeout_cancels_and_the_row_stays_pending(store: SqlStore, metrics: Metrics) -> None:
    started = asyncio.Event()

    class Stuck(RecordingNotifier):
        async def send(self, events: Sequence[AlertEvent]) -> None:
            started.set()
            await asyncio.sleep(30)

    d = Dispatcher([Stuck()], store, SystemClock(), metrics)
    await store.save_events([make_event(0)], d.channels_for)
    await d.start()
    await asyncio.wait_for(started.wait(), 10)
    await d.stop(timeout=0.2)
    assert [(e.status, e.attempts) for e in await d.entries()] == [("pending", 0)]


async def test_resolved_goes_where_the_alert_was_announced(store: SqlStore, metrics: Metrics) -> None:
    red_only = RecordingNotifier("red-only", min_level="red")
    d = Dispatcher([red_only], store, SystemClock(), metrics)
    resolved = make_event(3, level="blue", event="resolved")
    resolved.previous_level = "red"
    assert d.channels_for(resolved) == ["red-only"]
    resolved.previous_level = "orange"
    assert d.channels_for(resolved) == []


async def test_two_processes_sharing_a_store_send_each_event_once_in_order(
    store: SqlStore, metrics: Metrics
) -> None:
    log: list[str] = []

    class Shared(RecordingNotifier):
        async def send(self, events: Sequence[AlertEvent]) -> None:
            await asyncio.sleep(0.01)  # a real send takes a while: let the other one try
            log.extend(e.posts[0] for e in events)

    a, b = Shared("ops"), Shared("ops")
    da = Dispatcher([a], store, SystemClock(), metrics, poll_interval=0.05)
    db = Dispatcher([b], store, SystemClock(), metrics, poll_interval=0.05)
    await da.start()
    await db.start()
    for i in range(0, 30, 3):
        await store.save_events([make_event(j) for j in range(i, i + 3)], da.channels_for)
        da.wake()
        db.wake()
        await asyncio.sleep(0.02)
    assert await da.drain(20)
    await da.stop(2)
    await db.stop(2)
    assert log == [f"p{i}" for i in range(30)]
