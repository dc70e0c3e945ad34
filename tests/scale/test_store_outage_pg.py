"""PostgreSQL stopped mid-stream, then started again: nothing lost, nothing stored twice.

The real Runtime (file source -> memory bus -> lexicon -> PostgreSQL), on a cluster of our
own (``SENTINEL_TEST_PG_BIN``) that the test stops while the file is replayed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import text

from sentinel.config import config_from_dict
from sentinel.obs.metrics import Metrics
from sentinel.pipeline import Runtime

from .support import PgCluster, stream, write_jsonl

N = 3000


async def _wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_postgresql_stopped_and_restarted_mid_stream_loses_nothing(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    posts = write_jsonl(tmp_path / "posts.jsonl", stream(N))
    metrics = Metrics(CollectorRegistry())
    cfg = config_from_dict(
        {
            "storage": {"url": pg_cluster.url, "pool_size": 2},
            "metrics": {"enabled": False},
            "bus": {"max_size": 300, "batch_size": 100},
            "classifier": {"type": "lexicon"},
            "source": [
                {
                    "name": "replay",
                    "type": "file",
                    "path": str(posts),
                    "follow": False,
                    "checkpoint_every": 500,
                }
            ],
            "watch": [{"name": "acme", "query": "艾克美"}],
        },
        environ={},
    )
    runtime = Runtime(cfg, metrics=metrics, notifiers=[])
    value = metrics.registry.get_sample_value
    await runtime.start()
    try:

        async def some_in() -> bool:
            return await runtime.store.count_posts() >= 200

        await _wait_for(some_in)
        await asyncio.to_thread(pg_cluster.stop)

        await asyncio.sleep(5.0)  # the old consumer acknowledged a batch after its second failure
        ready_during = (await runtime.readiness())["store"]
        # posts, or the source's cursor if the outage began while it was saving one
        failures = sum(
            value("sentinel_store_write_failures_total", {"op": op}) or 0 for op in ("posts", "cursor")
        )
        healthy_during = value("sentinel_store_healthy")
        await asyncio.to_thread(pg_cluster.start)

        async def cursor_at_end() -> bool:
            raw = await runtime.store.get_cursor("replay")
            return raw is not None and json.loads(raw)["offset"] == posts.stat().st_size

        await _wait_for(cursor_at_end, within=120)
        await asyncio.wait_for(runtime.bus.drain(), 60)
        ready_after = (await runtime.readiness())["store"]
        async with runtime.store.engine.connect() as conn:
            posts_row = (
                await conn.execute(text("SELECT count(*), count(DISTINCT post_id), sum(seen) FROM posts"))
            ).one()
            scored = (await conn.execute(text("SELECT count(*) FROM classifications"))).scalar_one()
    finally:
        await runtime.stop()
    assert tuple(posts_row) == (N, N, N)
    assert scored == N
    assert value("sentinel_posts_ingested_total", {"platform": "weibo", "source": "replay"}) == N
    assert ready_during is False and failures >= 1 and healthy_during == 0
    assert ready_after is True and value("sentinel_store_healthy") == 1
