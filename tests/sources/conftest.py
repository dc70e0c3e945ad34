"""Real parts for collector tests: a validating sink, a SQLite cursor store, the simulator, Mosquitto."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sentinel.clock import UTC8, ManualClock
from sentinel.config import SourceConfig, StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.post import Post, PostError, parse_post
from sentinel.simulate.feeds import Feed
from sentinel.simulate.server import SimulatorServer
from sentinel.sources.base import SourceContext, SourceHealth
from sentinel.store.sql import SqlStore

NOW = datetime(2026, 11, 28, 13, 0, tzinfo=UTC8)
FAST = {"rate": 0, "backoff": 0.01, "backoff_max": 0.05, "timeout": 0.5, "connect_timeout": 0.5}


class RecordingSink:
    """A real PostSink: validates like the pipeline's, keeps what it accepted, counts the rest."""

    def __init__(self, metrics: Metrics, source: str) -> None:
        self.metrics = metrics
        self.source = source
        self.posts: dict[tuple[str, str], Post] = {}
        self.puts: Counter[tuple[str, str]] = Counter()
        self.rejects: Counter[str] = Counter()
        self.flushes = 0

    async def put(self, record: Mapping[str, Any] | Post) -> bool:
        try:
            post = record if isinstance(record, Post) else parse_post(dict(record))
        except PostError as exc:
            self.reject(exc.reason, exc.detail)
            return False
        self.posts[post.key] = post
        self.puts[post.key] += 1
        return True

    def reject(self, reason: str, detail: str) -> None:
        self.rejects[reason] += 1
        self.metrics.posts_rejected.labels(self.source, reason).inc()

    async def flush(self) -> None:
        self.flushes += 1

    def ids(self) -> set[str]:
        return {pid for _, pid in self.posts}

    def duplicates(self) -> list[tuple[str, str]]:
        return [key for key, n in self.puts.items() if n > 1]


def make_posts(
    n: int,
    *,
    start: datetime = NOW - timedelta(hours=2),
    long_every: int = 0,
    repost_every: int = 0,
    author: str = "1000001",
) -> list[dict[str, Any]]:
    """Numeric, time-ordered ids like Weibo's; texts with emoticons and topics."""
    posts = []
    for i in range(n):
        pid = str(5_100_000_000_000_000 + i * 1000)
        text = f"第{i}条：艾克美的产品[怒] #艾克美# 太差了"
        if long_every and i % long_every == long_every - 1:
            text = f"长文{i}：" + "艾克美售后问题一直没人处理，" * 15 + "结尾[泪]"
        post: dict[str, Any] = {
            "platform": "weibo",
            "id": pid,
            "text": text,
            "created_at": (start + timedelta(minutes=i)).isoformat(),
            "author": {
                "id": author,
                "name": "测试用户",
                "followers": 12_345 * (i + 1),
                "verified": i % 2 == 0,
            },
            "reposts": i * 3,
            "comments": i,
            "likes": i * 1000,
        }
        if repost_every and i and i % repost_every == 0:
            post["repost_of"] = posts[0]["id"]
        posts.append(post)
    return posts


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; each test gets a copy (migrations take a while)."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def migrate() -> None:
        db = SqlStore(StorageConfig(url=f"sqlite:///{path}"))
        await db.open()
        await db.close()

    asyncio.run(migrate())
    return path


@pytest.fixture
async def store(tmp_path: Path, migrated_db: Path) -> AsyncIterator[SqlStore]:
    shutil.copy(migrated_db, tmp_path / "cursors.db")
    db = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path / 'cursors.db'}"))
    await db.open(migrate=False)
    yield db
    await db.close()


@pytest.fixture
def make_ctx(clock: ManualClock, metrics: Metrics, store: SqlStore) -> Callable[..., SourceContext]:
    def make(type_: str, options: Mapping[str, Any], name: str = "src") -> SourceContext:
        config = SourceConfig.model_validate({"name": name, "type": type_, **options})
        return SourceContext(
            config=config, clock=clock, cursors=store, metrics=metrics, health=SourceHealth(name, metrics)
        )

    return make


@pytest.fixture
def sink(metrics: Metrics) -> RecordingSink:
    return RecordingSink(metrics, "src")


@pytest.fixture
async def simulator(clock: ManualClock) -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(Feed(), clock=clock, page_size=10) as srv:
        yield srv


def errors(metrics: Metrics, kind: str, source: str = "src") -> float:
    return (
        metrics.registry.get_sample_value("sentinel_fetch_errors_total", {"source": source, "kind": kind})
        or 0.0
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Mosquitto broker for this test session, on a free port; skips when not installed."""
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto)")
    port = free_port()
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("mosquitto did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
