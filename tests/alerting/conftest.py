"""A real SQLite store holding a known crisis stream, and the numbers a report must find in it.

The stream (watch "acme", query 艾克美; times UTC, report range T0 .. T0+12h):

* the day before T0: 2 calm posts an hour (history for the baseline, outside the range);
* hours 0-3: 2 calm neutral posts an hour;
* hours 4-5: the crisis, 30 negative posts an hour; 40 of the 60 repost story ``root``;
* 06:00 an apology; hours 6-11: 5 posts an hour, 2 negative and 3 neutral mentioning 道歉;
* 1 post an hour about another brand throughout (must never be counted).

Alert events: opened yellow 04:30, escalated red 05:00, deescalated yellow 07:00,
resolved 09:00; acknowledged by wang.li at 04:45.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sentinel.clock import ManualClock
from sentinel.config import Config, StorageConfig, config_from_dict
from sentinel.obs.metrics import Metrics
from sentinel.post import Author, Post, ScoredPost
from sentinel.risk.base import AlertEvent
from sentinel.store import SqlStore

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class Known:
    """What the report over [T0, T0+12h) must say about the known stream."""

    since: datetime = T0
    until: datetime = T0 + 12 * H
    posts: int = 8 + 60 + 30
    negative: int = 60 + 12
    neutral: int = 8 + 18
    positive: int = 0
    volume: tuple[int, ...] = (2, 2, 2, 2, 30, 30, 5, 5, 5, 5, 5, 5)
    baseline_first: float = 2.0  # median of the 24 calm hours before T0
    top_story_posts: int = 41  # the root and its 40 reposts
    food_safety_posts: int = 60
    response_at: datetime = T0 + 6 * H
    first_alert_at: datetime = T0 + 4.5 * H
    alert_id: int = 1


def _post(
    i: int,
    when: datetime,
    text: str,
    *,
    author: int,
    repost_of: str | None = None,
    followers: int = 100,
    reposts: int = 0,
) -> Post:
    return Post(
        platform="weibo",
        id=f"p{i}",
        text=text,
        created_at=when,
        author=Author(id=f"u{author}", name=f"用户{author}", followers=followers, verified=author == 1),
        reposts=reposts,
        repost_of=repost_of,
        url=f"https://m.weibo.cn/detail/p{i}",
    )


def known_stream() -> list[ScoredPost]:
    out: list[ScoredPost] = []
    n = 0

    def add(
        when: datetime, text: str, label: str, *, topics: dict[str, float] | None = None, **kw: Any
    ) -> None:
        nonlocal n
        n += 1
        post = kw.pop("post_id", None)
        p = _post(n, when, text, **kw)
        if post:
            p.id = post
        neg = {"negative": 0.92, "neutral": 0.3, "positive": 0.05}[label]
        out.append(ScoredPost(p, neg, label, topics or {}))

    for h in range(-24, 4):  # calm: the day before and the first four hours
        for k in range(2):
            add(
                T0 + h * H + k * 20 * timedelta(minutes=1),
                f"今天买了艾克美的牛奶 {h} {k}",
                "neutral",
                author=100 + k,
            )
    add(
        T0 + 4 * H,
        "艾克美牛奶喝出异物，孩子住院了！",
        "negative",
        topics={"product_safety": 0.95},
        author=1,
        followers=500_000,
        reposts=4000,
        post_id="root",
    )
    for k in range(59):
        when = T0 + 4 * H + (k + 1) * timedelta(minutes=2)
        if k < 40:
            add(
                when,
                f"转发 艾克美出事了 {k}",
                "negative",
                topics={"product_safety": 0.8},
                author=200 + k % 7,
                repost_of="root",
            )
        else:
            add(when, f"艾克美这次太过分了 {k}", "negative", topics={"product_safety": 0.7}, author=300 + k)
    for h in range(6, 12):
        for k in range(5):
            when = T0 + h * H + k * 10 * timedelta(minutes=1)
            if k < 2:
                add(when, f"艾克美还是不放心 {h}{k}", "negative", author=400 + k)
            else:
                add(when, f"艾克美道歉了，态度还行 {h}{k}", "neutral", author=500 + k)
    for h in range(-24, 12):
        add(T0 + h * H + 30 * timedelta(minutes=1), "别的品牌今天打折", "negative", author=900)
    return out


def known_events() -> list[AlertEvent]:
    def ev(event: str, level: str, risk: float, at: datetime, prev: str | None = None) -> AlertEvent:
        return AlertEvent(
            event,
            "acme",
            level,
            risk,
            at,
            factors={"volume": {"value": 30, "contribution": 20}},
            posts=["root"],
            samples=[{"id": "root", "text": "艾克美牛奶喝出异物", "author": "用户1"}],
            previous_level=prev,
        )

    return [
        ev("opened", "yellow", 55, T0 + 4.5 * H),
        ev("escalated", "red", 85, T0 + 5 * H, "yellow"),
        ev("deescalated", "yellow", 50, T0 + 7 * H, "red"),
        ev("resolved", "yellow", 10, T0 + 9 * H, "yellow"),
    ]


def config_dict(db: Path) -> dict[str, Any]:
    return {
        "storage": {"url": f"sqlite:///{db}"},
        "watch": [{"name": "acme", "query": "艾克美 OR ACME"}],
    }


@pytest.fixture
def known() -> Known:
    return Known()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sentinel.db"


async def _admin(base: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[str]:
    """A fresh database: a SQLite file, and PostgreSQL when ``.ci/run`` provides one."""
    if request.param == "sqlite":
        yield f"sqlite:///{db_path}"
        return
    base = os.environ.get("SENTINEL_TEST_PG_URL")
    if not base:
        pytest.skip("SENTINEL_TEST_PG_URL not set (.ci/run starts PostgreSQL and sets it)")
    name = f"alerting_{uuid.uuid4().hex[:12]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rpartition('/')[0]}/{name}"
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def config(db_url: str) -> Config:
    cfg = config_dict(Path("unused"))
    cfg["storage"]["url"] = db_url
    return config_from_dict(cfg)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 + 4.75 * H)


@pytest.fixture
async def store(config: Config) -> AsyncIterator[SqlStore]:
    s = SqlStore(StorageConfig(url=config.storage.url), Metrics(CollectorRegistry()))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def fill_known(store: SqlStore, clock: ManualClock) -> None:
    """Store the known stream, its alert events (acked after the first one), and the apology."""
    from sentinel.alerting.manage import AlertManager
    from sentinel.alerting.responses import ResponseLog

    await store.write_batch([(sp, "test") for sp in known_stream()], [], model="test", now=T0)
    manager = AlertManager(store, clock)
    events = known_events()
    await store.save_events(await manager.annotate(events[:1]), lambda ev: [])
    clock.advance_to(T0 + 4.75 * H)
    await manager.ack(1, actor="wang.li", note="PR 正在准备声明")
    clock.advance_to(T0 + 6 * H)
    await ResponseLog(store, clock).add(
        "acme",
        at=T0 + 6 * H,
        kind="apology",
        actor="pr.lead",
        note="官方微博致歉并说明调查进展",
        url="https://weibo.com/acme/1",
    )
    await store.save_events(await manager.annotate(events[1:]), lambda ev: [])
    clock.advance_to(T0 + 20 * H)


@pytest.fixture
async def filled(store: SqlStore, clock: ManualClock) -> SqlStore:
    await fill_known(store, clock)
    return store
