"""An alert storm while a chat service is down, and a sentinel restart in the middle of it.

Every event must reach every channel exactly once and in order — as single cards or in
digests — with the real rate limits of DingTalk and WeCom enforced by the fake services.
"""

from __future__ import annotations

import asyncio
import re

from fake_services import Arrival, FakeDingTalk, FakeWeCom
from notify_support import eventually, make_event
from prometheus_client import CollectorRegistry

from sentinel.clock import SystemClock
from sentinel.config import NotifyConfig, StorageConfig
from sentinel.notify import build_notifiers
from sentinel.notify.dispatcher import Dispatcher
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent
from sentinel.store.sql import SqlStore

_WATCH = re.compile(r"w\d{3}")


def watches_in(arrivals: list[Arrival], text_of: str) -> list[str]:
    """The events each message carried, in message order (a digest lists several)."""
    seen: list[str] = []
    for a in arrivals:
        body = a.body["markdown"][text_of]
        seen += list(dict.fromkeys(_WATCH.findall(body)))  # a card names its watch more than once
    return seen


async def _open(
    db_url: str, dt: FakeDingTalk, wc: FakeWeCom, metrics: Metrics
) -> tuple[SqlStore, Dispatcher]:
    store = SqlStore(StorageConfig(url=db_url), metrics)
    await store.open()
    configs = [
        NotifyConfig.model_validate({"type": "dingtalk", "url": dt.url, "secret": dt.secret}),
        NotifyConfig.model_validate({"type": "wecom", "url": wc.url}),
    ]
    notifiers = build_notifiers(configs, clock=SystemClock(), metrics=metrics)
    d = Dispatcher(
        notifiers,
        store,
        SystemClock(),
        metrics,
        max_attempts=1000,
        base_backoff=0.02,
        max_backoff=0.1,
        poll_interval=0.5,
    )
    await d.start()
    return store, d


async def _storm(store: SqlStore, d: Dispatcher, events: list[AlertEvent], chunk: int = 10) -> None:
    for i in range(0, len(events), chunk):
        await store.save_events(events[i : i + chunk], d.channels_for)
        d.wake()
        await asyncio.sleep(0.03)


def _failed(metrics: Metrics) -> float:
    labels = {"channel": "dingtalk", "result": "failed"}
    return metrics.registry.get_sample_value("sentinel_notifications_total", labels) or 0.0


async def _failed_at_least(metrics: Metrics, n: float) -> bool:
    return _failed(metrics) >= n


async def test_outage_and_restart_during_a_storm(db_url: str) -> None:
    metrics = Metrics(CollectorRegistry())
    dt, wc = FakeDingTalk(), FakeWeCom()
    events = [make_event(i, watch=f"w{i:03d}", level=("orange", "red")[i % 2]) for i in range(50)]
    expected = [e.watch for e in events]
    try:
        store, d = await _open(db_url, dt, wc, metrics)
        # calm: five alerts go out one by one
        await _storm(store, d, events[:5])
        assert await d.drain(60), dt.rejected[-3:]
        # DingTalk goes down; a storm of 25 arrives; WeCom keeps delivering meanwhile
        dt.down()
        await _storm(store, d, events[5:30])
        await eventually(lambda: _failed_at_least(metrics, 3))
        assert len(dt.arrivals) == 5
        assert (await d.counts())["dingtalk"]["pending"] == 25
        # it comes back: the backlog drains as digests, in order
        dt.up()
        assert await d.drain(60), dt.rejected[-3:]
        assert watches_in(dt.arrivals, "text") == expected[:30]
        # down again, 20 more, and sentinel restarts before it recovers
        dt.down()
        failed_before = _failed(metrics)
        await _storm(store, d, events[30:50])
        await eventually(lambda: _failed_at_least(metrics, failed_before + 2))
        await d.stop(5)
        await store.close()
        store, d = await _open(db_url, dt, wc, metrics)
        await asyncio.sleep(0.2)
        dt.up()
        assert await d.drain(60), dt.rejected[-3:]
        await d.stop(5)
        counts = await d.counts()
        await store.close()
    finally:
        dt.close()
        wc.close()

    assert watches_in(dt.arrivals, "text") == expected
    assert watches_in(wc.arrivals, "content") == expected
    assert counts == {
        "dingtalk": {"pending": 0, "sent": 50, "dead": 0},
        "wecom": {"pending": 0, "sent": 50, "dead": 0},
    }
    # the real services' limits were never tripped: no 130101 / 45009 answers
    assert not [r for _, r in dt.rejected + wc.rejected if b"130101" in r.body or b"45009" in r.body]
    # digests kept the message count within 20 a minute on each channel
    assert len(dt.arrivals) <= 20 and len(wc.arrivals) <= 20
    assert any(len(_WATCH.findall(a.body["markdown"]["text"])) > 1 for a in dt.arrivals)
    assert metrics.registry.get_sample_value("sentinel_outbox_pending") == 0
