"""Random arrivals, random faults, random restarts: still no lost post and no duplicate."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from sentinel.clock import ManualClock
from sentinel.config import SourceConfig, StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.simulate.feeds import Feed
from sentinel.simulate.server import SimulatorServer
from sentinel.sources.base import SourceContext, SourceHealth
from sentinel.sources.weibo import WeiboSource
from sentinel.store.sql import SqlStore

from .conftest import FAST, NOW, RecordingSink, make_posts
from .test_collectors import COLLECTORS, TYPES

FAULTS = [
    None,
    "500",
    "502",
    "429@0",
    "timeout@1",
    "truncated",
    "malformed",
    "bad_utf8",
    "duplicate",
    "shuffle",
    "html_junk",
    "block",
    "huge@300000",
]
KINDS = ["weibo", "wechat", "vendor", "rss"]
ENDPOINT = {"weibo": "search", **{name: spec[0] for name, spec in COLLECTORS.items()}}

# (new posts, fault for this run, requests that pass before the fault hits, restart after the run)
_step = st.tuples(st.integers(0, 12), st.sampled_from(FAULTS), st.integers(0, 3), st.booleans())


def _source(kind: str, url: str, ctx_factory: Any) -> Any:
    if kind == "weibo":
        return WeiboSource(ctx_factory("weibo", {"base_url": url, "keywords": ["艾克美"]}))
    _, cls, options = COLLECTORS[kind]
    return cls(ctx_factory(TYPES[cls], options(url)))


Step = tuple[int, str | None, int, bool]


async def _play(kind: str, schedule: list[Step], db: Path, swap: bool) -> None:
    clock = ManualClock(NOW)
    metrics = Metrics(CollectorRegistry())
    store = SqlStore(StorageConfig(url=f"sqlite:///{db}"))
    await store.open(migrate=False)
    posts = make_posts(sum(step[0] for step in schedule), start=NOW - timedelta(hours=5))
    if swap:  # ids out of time order, as Weibo's sometimes are
        for i in range(0, len(posts) - 1, 4):
            posts[i]["id"], posts[i + 1]["id"] = posts[i + 1]["id"], posts[i]["id"]
    sink = RecordingSink(metrics, "src")

    def ctx(type_: str, options: dict[str, Any]) -> SourceContext:
        config = SourceConfig.model_validate(
            {
                "name": "src",
                "type": type_,
                **options,
                **FAST,
                "retries": 1,
                "timeout": 0.2,
                "max_body": 100_000,
                "max_pages": 50,
            }
        )
        return SourceContext(
            config=config, clock=clock, cursors=store, metrics=metrics, health=SourceHealth("src", metrics)
        )

    try:
        async with SimulatorServer(Feed(), clock=clock, feed_size=1000) as srv:
            source = _source(kind, srv.url, ctx)
            added = 0
            for new, fault, after, restart in schedule:
                for post in posts[added : added + new]:
                    srv.feed.add(post)
                added += new
                if fault:
                    srv.faults.add_spec(f"{ENDPOINT[kind]}={fault}~{after}")  # often mid-way through a pass
                await source.collect(sink)
                srv.faults.clear()
                clock.advance(timedelta(hours=3))  # past any run backoff
                if restart:
                    await source.close()
                    source = _source(kind, srv.url, ctx)
            await source.collect(sink)  # a calm run to catch up
            await source.close()
    finally:
        await store.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.duplicates() == []


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), schedule=st.lists(_step, min_size=1, max_size=6), swap=st.booleans())
def test_random_faults_and_restarts_lose_nothing(
    migrated_db: Path, tmp_path: Path, kind: str, schedule: list[Step], swap: bool
) -> None:
    db = tmp_path / f"chaos-{kind}.db"
    shutil.copy(migrated_db, db)
    try:
        asyncio.run(_play(kind, schedule, db, swap))
    finally:
        db.unlink(missing_ok=True)
