"""Retention keeps tables bounded during a soak: a short retention is pruned on its own
schedule, not once an hour (issue 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry

from sentinel.clock import ManualClock
from sentinel.config import StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.post import ScoredPost, parse_post
from sentinel.store import SqlStore
from sentinel.store.retention import JOB_ID, RetentionJob, run_interval

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_run_interval_follows_a_short_retention() -> None:
    assert run_interval(30 * 86400.0) == 3600.0
    assert run_interval(86400.0) == 3600.0
    assert run_interval(900.0) == 90.0
    assert run_interval(120.0) == 60.0  # never more often than a minute
    assert run_interval(0.0) == 3600.0  # retention off: the job does nothing anyway


async def test_scheduled_interval_and_lease_follow_the_retention(tmp_path: Path) -> None:
    store = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path}/s.db"), Metrics(CollectorRegistry()))
    await store.open()
    try:
        job = RetentionJob(store, StorageConfig(url="sqlite://", retention="15m"), ManualClock(T0))
        assert job.every == 90.0 and job.lease.ttl == 90.0
        scheduler = AsyncIOScheduler(timezone="UTC")
        job.schedule(scheduler)
        trigger = scheduler.get_job(JOB_ID).trigger
        assert trigger.interval == timedelta(seconds=90)
        assert RetentionJob(store, StorageConfig(url="sqlite://"), ManualClock(T0)).every == 3600.0
    finally:
        await store.close()


async def test_a_short_retention_prunes_a_real_sqlite_file(tmp_path: Path) -> None:
    store = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path}/s.db"), Metrics(CollectorRegistry()))
    await store.open()
    try:
        posts = [
            ScoredPost(
                parse_post(
                    {
                        "platform": "weibo",
                        "id": str(i),
                        "text": f"帖子{i}",
                        "created_at": (T0 + timedelta(seconds=i)).isoformat(),
                    }
                ),
                0.1,
                "neutral",
                {},
            )
            for i in range(1200)  # twenty minutes of a post a second
        ]
        await store.write_batch([(sp, "bulk") for sp in posts], [], model="m", now=T0)
        clock = ManualClock(T0 + timedelta(seconds=1200))
        job = RetentionJob(store, StorageConfig(url="sqlite://", retention="15m"), clock, batch=100, pause=0)
        assert await job.run_once() == 300  # everything created before 12:05
        assert await store.count_posts() == 900
        clock.advance(timedelta(seconds=90))
        assert await job.run_once() == 90 and job.removed_total == 390
    finally:
        await store.close()
