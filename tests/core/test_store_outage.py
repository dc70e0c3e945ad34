"""A store that refuses writes loses nothing: the batch waits, the sources wait, then all is stored once.

The real Runtime (file source -> memory bus -> lexicon -> SQLite -> risk -> console), with
the database locked by a second connection (``BEGIN EXCLUSIVE``), and a real ``sentinel
run`` whose files may not grow (``RLIMIT_FSIZE``, the way a full disk answers) until the
limit is lifted. PostgreSQL stopped and started mid-stream is in tests/scale.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from sentinel.clock import ManualClock
from sentinel.config import LEVELS, config_from_dict
from sentinel.notify.console import ConsoleNotifier
from sentinel.obs.metrics import Metrics
from sentinel.pipeline import Runtime
from sentinel.post import ScoredPost, parse_post
from sentinel.risk.base import AlertEvent

from .conftest import T0, record, write_jsonl

N = 3000
NEGATIVE = "艾克美的新品质量太差了，投诉无门，要求退款，大家别买"


class CountingEngine:
    """A risk engine that counts the negative posts it observed (a resighting is not one):
    levels at 50 / 300 / 900 / 1400. Each post must be observed once, outage or not."""

    def __init__(self) -> None:
        self.negatives = 0
        self.level: str | None = None

    def observe(self, posts: Sequence[ScoredPost]) -> None:
        self.negatives += sum(1 for sp in posts if sp.label == "negative")

    def evaluate(self, now: datetime) -> list[AlertEvent]:
        rank = sum(1 for th in (50, 300, 900, 1400) if self.negatives >= th)
        new = LEVELS[rank - 1] if rank else None
        if new == self.level or new is None:
            return []
        kind = "opened" if self.level is None else "escalated"
        self.level = new
        return [AlertEvent(kind, "acme", new, float(rank * 25), now, {"negatives": self.negatives})]

    def warm_start(self, posts: Sequence[ScoredPost], open_levels: dict[str, str], now: datetime) -> None:
        self.level = open_levels.get("acme")


def _posts(tmp_path: Path, n: int = N) -> Path:
    # a quiet start, then a negative burst: the risk engine opens and escalates an alert
    recs = [record(i, NEGATIVE if i > n // 2 else "今天用了艾克美的新品，感觉还不错") for i in range(n)]
    return write_jsonl(tmp_path / "posts.jsonl", recs)


def _config(tmp_path: Path, posts: Path, *, listen: str | None = None) -> dict[str, Any]:
    return {
        "storage": {"url": f"sqlite:///{tmp_path}/sentinel.db"},
        "metrics": {"enabled": listen is not None, "listen": listen or "127.0.0.1:0"},
        "bus": {"max_size": 300, "batch_size": 100},
        "classifier": {"type": "lexicon"},
        "source": [
            {"name": "replay", "type": "file", "path": str(posts), "follow": False, "checkpoint_every": 500}
        ],
        "watch": [{"name": "acme", "query": "艾克美"}],
        "notify": [{"type": "console"}],
    }


async def _wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _lock(db: Path) -> sqlite3.Connection:
    """``BEGIN EXCLUSIVE`` from a second connection, mid-stream. Tried every millisecond:
    SQLite's busy handler sleeps ever longer, and a busy writer would starve it."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=0)
    deadline = time.monotonic() + 30
    while True:
        try:
            conn.execute("BEGIN EXCLUSIVE")
            return conn
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                conn.close()
                raise
            await asyncio.sleep(0.001)


def _db(tmp_path: Path, sql: str) -> Any:
    conn = sqlite3.connect(tmp_path / "sentinel.db", timeout=30)
    try:
        return conn.execute(sql).fetchone()
    finally:
        conn.close()


def _cursor_offset(tmp_path: Path) -> int:
    row = _db(tmp_path, "SELECT cursor FROM source_cursors WHERE source = 'replay'")
    return int(json.loads(row[0])["offset"]) if row else 0


def _stored_before_cursor(tmp_path: Path, posts: Path) -> tuple[int, int]:
    """(lines before the saved cursor, posts stored): the first may never exceed the second."""
    offset = _cursor_offset(tmp_path)
    (stored,) = _db(tmp_path, "SELECT count(*) FROM posts")
    return posts.read_bytes()[:offset].count(b"\n"), int(stored)


def _assert_stored_once(tmp_path: Path) -> None:
    assert _db(tmp_path, "SELECT count(*), count(DISTINCT post_id), sum(seen) FROM posts") == (N, N, N)
    assert _db(tmp_path, "SELECT count(*), count(DISTINCT post_pk) FROM classifications") == (N, N)


def _assert_events_once(tmp_path: Path) -> int:
    """Every alert event stored once, each with one outbox row, and no event repeated."""
    conn = sqlite3.connect(tmp_path / "sentinel.db")
    try:
        events = conn.execute(
            "SELECT e.alert_id, e.event, e.level, count(o.id) FROM alert_events e "
            "LEFT JOIN outbox o ON o.event_id = e.id GROUP BY e.id ORDER BY e.id"
        ).fetchall()
    finally:
        conn.close()
    assert all(n == 1 for *_, n in events), events
    pairs = [(a, ev, lvl) for a, ev, lvl, _ in events]
    assert len(pairs) == len(set(pairs)), f"an alert event was stored twice: {events}"
    assert sum(1 for _, ev, _ in pairs if ev == "opened") == len({a for a, _, _ in pairs})
    return len(events)


async def test_sqlite_locked_by_another_writer_loses_nothing(tmp_path: Path) -> None:
    posts = _posts(tmp_path)
    metrics = Metrics(CollectorRegistry())
    cfg = config_from_dict(_config(tmp_path, posts, listen="127.0.0.1:0"), environ={})
    out = io.StringIO()
    clock = ManualClock(T0 + timedelta(seconds=N))
    notifier = ConsoleNotifier(cfg.notifiers[0], clock=clock, metrics=metrics, stream=out)
    engine = CountingEngine()
    runtime = Runtime(cfg, clock=clock, metrics=metrics, notifiers=[notifier], risk=engine)
    value = metrics.registry.get_sample_value
    locker: sqlite3.Connection | None = None
    await runtime.start()
    try:
        url = f"http://127.0.0.1:{runtime._server.port}/readyz"

        async def some_in() -> bool:
            return await runtime.store.count_posts() >= 200

        await _wait_for(some_in)
        locker = await _lock(tmp_path / "sentinel.db")
        held = time.monotonic()

        # SQLite waits 10 s (busy_timeout) before a write gives up: two tries in ~21 s is
        # where the old consumer acknowledged the batch. Look at what an operator sees at 23 s.
        await asyncio.sleep(max(0.0, 23.0 - (time.monotonic() - held)))
        async with httpx.AsyncClient() as client:
            ready_during = await client.get(url)
        # posts, or the source's cursor if the outage began while it was saving one
        failures = sum(
            value("sentinel_store_write_failures_total", {"op": op}) or 0 for op in ("posts", "cursor")
        )
        healthy_during = value("sentinel_store_healthy")
        before_cursor, stored_during = _stored_before_cursor(tmp_path, posts)
        # the source waits (on a full bus, or for its posts to be stored before its cursor)
        sink = runtime.sources[0][2]
        accepted = sink.accepted
        await asyncio.sleep(1.0)
        accepted_later = sink.accepted
        await asyncio.sleep(max(0.0, 25.0 - (time.monotonic() - held)))
        locker.rollback()
        locker.close()
        locker = None

        async def all_read() -> bool:
            return _cursor_offset(tmp_path) == posts.stat().st_size and runtime.bus.depth() == 0

        await _wait_for(all_read, within=90)
        async with httpx.AsyncClient() as client:
            ready_after = (await client.get(url)).status_code
        healthy_after = value("sentinel_store_healthy")
    finally:
        if locker is not None:
            locker.close()
        await runtime.stop()
    _assert_stored_once(tmp_path)
    assert value("sentinel_posts_ingested_total", {"platform": "weibo", "source": "replay"}) == N
    assert value("sentinel_posts_duplicate_total", {"platform": "weibo", "source": "replay"}) is None
    # what the outage looked like from outside
    assert before_cursor <= stored_during < N
    assert accepted_later == accepted < N
    assert ready_during.status_code == 503 and ready_during.json()["store"] is False, ready_during.text
    assert failures >= 1 and healthy_during == 0
    assert ready_after == 200 and healthy_after == 1
    # each stored post observed once by the risk engine; each alert event stored and queued once
    assert (
        engine.negatives == _db(tmp_path, "SELECT count(*) FROM classifications WHERE label = 'negative'")[0]
    )
    assert engine.negatives >= 1400
    assert _assert_events_once(tmp_path) == 4  # opened blue, then yellow, orange, red

    # a restart reads nothing again
    metrics2 = Metrics(CollectorRegistry())
    runtime = Runtime(cfg, clock=clock, metrics=metrics2, notifiers=[], risk=CountingEngine())
    await runtime.start()
    await asyncio.sleep(1.0)
    await runtime.stop()
    _assert_stored_once(tmp_path)
    assert (
        metrics2.registry.get_sample_value(
            "sentinel_posts_ingested_total", {"platform": "weibo", "source": "replay"}
        )
        is None
    )


async def test_a_record_the_database_refuses_is_rejected_alone(tmp_path: Path) -> None:
    """A data fault is not an outage: the batch is split until the record is alone, and only
    it is rejected. (Published straight onto the bus: the parser may already refuse it.)"""
    posts = [parse_post(record(i)) for i in range(300)]
    posts[150] = dataclasses.replace(posts[150], reposts=10**20)  # beyond SQLite's 64-bit integers
    metrics = Metrics(CollectorRegistry())
    data = _config(tmp_path, tmp_path / "unused.jsonl")
    data["source"] = []
    runtime = Runtime(config_from_dict(data, environ={}), metrics=metrics, notifiers=[])
    await runtime.start()
    try:
        for post in posts:
            await runtime.bus.publish(post, "replay")
        await asyncio.wait_for(runtime.bus.drain(), 30)
    finally:
        await runtime.stop()
    assert _db(tmp_path, "SELECT count(*) FROM posts") == (299,)
    assert _db(tmp_path, f"SELECT count(*) FROM posts WHERE post_id = '{posts[150].id}'") == (0,)
    value = metrics.registry.get_sample_value
    assert value("sentinel_posts_rejected_total", {"source": "replay", "reason": "unstorable"}) == 1
    assert value("sentinel_store_healthy") == 1  # the store was never at fault


# -- a full disk -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metric(port: int, name: str) -> float:
    """The sum of a metric's samples over all labels, as ``sentinel run`` exports them."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def test_a_full_disk_then_space_freed_loses_nothing(tmp_path: Path) -> None:
    """``sentinel run`` may not grow any file past 1 MiB (as a full disk answers: EFBIG, a
    short write), and SIGXFSZ is ignored, as Python does; then the limit is lifted."""
    posts = _posts(tmp_path)
    port = _free_port()
    data = _config(tmp_path, posts, listen=f"127.0.0.1:{port}")
    lines = [
        "[storage]",
        f'url = "{data["storage"]["url"]}"',
        "[metrics]",
        f'listen = "127.0.0.1:{port}"',
        "[bus]",
        "max_size = 300",
        "batch_size = 100",
        "[classifier]",
        'type = "lexicon"',
        "[[source]]",
        'name = "replay"',
        'type = "file"',
        f'path = "{posts}"',
        "follow = false",
        "checkpoint_every = 500",
        "[[watch]]",
        'name = "acme"',
        'query = "艾克美"',
        "[[notify]]",
        'type = "console"',
    ]
    cfg = tmp_path / "sentinel.toml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    limit = 1 << 20

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentinel.cli", "run", "--config", str(cfg)],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=full_disk,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 120
        while not re.search(r"disk I/O error|disk is full", (tmp_path / "run.log").read_text()):
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.2)
        time.sleep(3.0)  # the old consumer acknowledged a batch after its second failure
        healthy_during = _metric(port, "sentinel_store_healthy")
        failures = _metric(port, "sentinel_store_write_failures_total")
        ready_during = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        before_cursor, stored_during = _stored_before_cursor(tmp_path, posts)
        # space freed
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        deadline = time.monotonic() + 120
        while _cursor_offset(tmp_path) < posts.stat().st_size:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.2)
        healthy_after = _metric(port, "sentinel_store_healthy")
        ready_after = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        log.close()
    assert rc == 0, (tmp_path / "run.log").read_text()
    _assert_stored_once(tmp_path)
    _assert_events_once(tmp_path)
    assert before_cursor <= stored_during < N
    assert ready_during.status_code == 503, ready_during.text
    assert failures >= 1 and healthy_during == 0
    assert ready_after == 200 and healthy_after == 1
