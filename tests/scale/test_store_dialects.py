"""The same migrations, upserts, lease and retention on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from sentinel.clock import ManualClock
from sentinel.config import StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.post import ScoredPost, parse_post
from sentinel.store import SqlStore
from sentinel.store import schema as t
from sentinel.store.lease import Lease
from sentinel.store.retention import RetentionJob

from .support import T0, record


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(store_url: str, metrics: Metrics):  # type: ignore[no-untyped-def]
    url = store_url
    s = SqlStore(StorageConfig(url=url, pool_size=3), metrics)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def _scored(i: int, negative: float = 0.1) -> ScoredPost:
    return ScoredPost(parse_post(record(i)), negative, "neutral", {"product_quality": 0.5})


async def _columns(s: SqlStore) -> dict[str, list[str]]:
    async with s.engine.connect() as conn:
        return await conn.run_sync(
            lambda c: {
                name: sorted(col["name"] for col in inspect(c).get_columns(name))
                for name in inspect(c).get_table_names()
            }
        )


async def test_migrations_create_the_schema_on_both(store: SqlStore) -> None:
    tables = await _columns(store)
    assert "alembic_version" in tables
    for table in t.metadata.sorted_tables:
        assert tables[table.name] == sorted(c.name for c in table.columns), table.name
    await store.upgrade()  # idempotent at head


async def test_posts_are_stored_once_and_counters_update(store: SqlStore) -> None:
    new = await store.write_batch([(_scored(i), "a") for i in range(5)], [], model="m", now=T0)
    assert len(new) == 5
    # the same posts again (a redelivery) plus one new: only the new one is "new"
    again = await store.write_batch([(_scored(i), "b") for i in range(6)], [], model="m", now=T0)
    assert [sp.post.id for sp in again] == [record(5)["id"]]
    assert await store.count_posts() == 6
    async with store.engine.connect() as conn:
        seen = dict((await conn.execute(select(t.posts.c.post_id, t.posts.c.seen))).all())
        assert seen[record(0)["id"]] == 2 and seen[record(5)["id"]] == 1
        n = (await conn.execute(select(t.classifications.c.post_pk))).all()
        assert len(n) == 6


async def test_one_lease_holder_at_a_time(store: SqlStore) -> None:
    clock = ManualClock(T0)
    a = Lease(store.engine, "scorer", "a", ttl=10, clock=clock)
    b = Lease(store.engine, "scorer", "b", ttl=10, clock=clock)
    assert await a.acquire() and not await b.acquire()
    clock.advance(timedelta(seconds=5))
    assert await a.acquire()  # renewed until T0+15
    clock.advance(timedelta(seconds=9))
    assert not await b.acquire()
    assert await a.holder_now() == "a"
    clock.advance(timedelta(seconds=2))  # a stopped renewing: expired
    assert await b.acquire() and not await a.acquire()
    await b.release()
    assert await b.holder_now() is None and await a.acquire()


async def test_retention_prunes_old_posts_in_batches(store: SqlStore) -> None:
    old = [_scored(i) for i in range(25)]  # T0 .. T0+24s
    await store.write_batch([(sp, "a") for sp in old], [], model="m", now=T0)
    fresh = ScoredPost(
        parse_post({**record(100), "created_at": (T0 + timedelta(days=40)).isoformat()}), 0.1, "neutral", {}
    )
    await store.write_batch([(fresh, "a")], [], model="m", now=T0)
    clock = ManualClock(T0 + timedelta(days=45))
    job = RetentionJob(store, StorageConfig(url="sqlite://", retention="30d"), clock, batch=10, pause=0)
    assert await job.run_once() == 25
    assert await store.count_posts() == 1
    async with store.engine.connect() as conn:
        assert len((await conn.execute(select(t.classifications.c.post_pk))).all()) == 1
    assert await job.run_once() == 0
    # a second process does not prune while the first holds the lease
    other = RetentionJob(store, StorageConfig(url="sqlite://", retention="1s"), clock, batch=10)
    other.lease.holder = "someone-else"
    assert await other.run_once() == 0 and await store.count_posts() == 1
