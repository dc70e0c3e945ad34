"""The retention job: prune posts older than ``[storage] retention``, a batch at a time.

Each batch is its own short transaction (what ``SqlStore.prune_posts`` does, one batch per call), and the job yields to
the event loop between batches, so ingestion never waits behind one long DELETE. With
several processes on one database, only the holder of the ``retention`` lease prunes.

Wiring (the lead's Runtime, or any role)::

    self._retention = RetentionJob(self.store, self.config.storage, self.clock)
    self._retention.schedule(self._scheduler)      # an AsyncIOScheduler already running or not
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, select

from sentinel.clock import Clock
from sentinel.config import StorageConfig
from sentinel.store import schema as t
from sentinel.store.lease import Lease, default_holder
from sentinel.store.sql import SqlStore

__all__ = ["RetentionJob", "run_interval"]

log = logging.getLogger(__name__)
JOB_ID = "sentinel-retention"


def run_interval(retention: float) -> float:
    """How often to prune: hourly, or a tenth of a shorter retention (at least every minute).

    With a fixed hour, a short retention (minutes, as high-volume deployments and the soak
    use) would let the tables grow to an hour past it between runs, and the first run of a
    soak comes a minute in, when nothing is old enough yet.
    """
    if retention <= 0:
        return 3600.0
    return min(3600.0, max(60.0, retention / 10.0))


class RetentionJob:
    """Deletes posts (and their scores) whose ``created_at`` is older than the retention period.

    >>> # job = RetentionJob(store, config.storage, clock); await job.run_once()
    """

    def __init__(
        self,
        store: SqlStore,
        config: StorageConfig,
        clock: Clock,
        *,
        batch: int = 2000,
        every: float | None = None,
        pause: float = 0.05,
        lease: Lease | None = None,
    ) -> None:
        self.store = store
        self.retention = timedelta(seconds=config.retention)
        self.clock = clock
        self.batch = batch
        self.every = every if every is not None else run_interval(config.retention)
        self.pause = pause
        self.lease = lease or Lease(store.engine, "retention", default_holder("retention"), ttl=self.every)
        self.removed_total = 0
        self._running = asyncio.Lock()

    async def run_once(self) -> int:
        """Prune now; returns how many posts were removed (0 when another process holds the lease)."""
        if self.retention.total_seconds() <= 0:
            return 0
        async with self._running:
            if not await self.lease.acquire():
                return 0
            cutoff = self.clock.now() - self.retention
            removed = 0
            while True:
                # one bounded batch per call, then let the pipeline run
                n = await self._prune_batch(cutoff)
                removed += n
                if n < self.batch:
                    break
                await asyncio.sleep(self.pause)
            self.removed_total += removed
            if removed:
                log.info("retention: pruned %d post(s) created before %s", removed, cutoff.isoformat())
            return removed

    async def _prune_batch(self, cutoff: datetime) -> int:
        """One batch of ``SqlStore.prune_posts``: the oldest posts first, scores with them."""
        async with self.store.engine.begin() as conn:
            rows = await conn.execute(
                select(t.posts.c.pk)
                .where(t.posts.c.created_ts < cutoff.timestamp())
                .order_by(t.posts.c.created_ts)
                .limit(self.batch)
            )
            pks = [r[0] for r in rows]
            if pks:
                await conn.execute(delete(t.classifications).where(t.classifications.c.post_pk.in_(pks)))
                await conn.execute(delete(t.posts).where(t.posts.c.pk.in_(pks)))
        return len(pks)

    async def _job(self) -> None:
        try:
            await self.run_once()
        except Exception:  # a failed prune is retried at the next run; never kill the scheduler
            log.exception("retention job failed")

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add the job (first run a minute after start, then every ``every`` seconds:
        :func:`run_interval` of the retention unless given)."""
        scheduler.add_job(
            self._job,
            IntervalTrigger(seconds=self.every, jitter=min(60.0, self.every / 10)),
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            replace_existing=True,
            # APScheduler's own timer runs on the wall clock, not the pipeline clock
            next_run_time=datetime.now(UTC) + timedelta(seconds=60),
        )
