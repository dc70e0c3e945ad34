"""The headline fault test, with real processes: 1 collector, 3 classifier workers, 1 scorer.

During the run the broker is restarted while the collector publishes, one worker is
SIGKILLed (and a replacement with the same client id started), and PostgreSQL is
restarted. Afterwards every post is
stored exactly once, and the alert events equal ``sentinel backtest`` over the same stream.

``SENTINEL_SCALE_N`` sets the number of posts (the issue's 100,000 takes several minutes
on a 2-core machine; the default keeps this test well under the time budget).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import Broker, PgCluster, stream, write_jsonl

N = int(os.environ.get("SENTINEL_SCALE_N", "12000"))
WORKERS = 3


def _config(tmp: Path, broker: Broker, pg: PgCluster, posts: Path) -> Path:
    cfg = tmp / "sentinel.toml"
    cfg.write_text(
        f"""
[storage]
url = "{pg.url}"
pool_size = 4
[bus]
type = "mqtt"
url = "{broker.url}"
batch_size = 200
batch_wait = "50ms"
max_size = 2000
[metrics]
enabled = false
[classifier]
type = "lexicon"
[[source]]
name = "replay"
type = "file"
path = "{posts}"
follow = true
checkpoint_every = 500
[[watch]]
name = "acme"
query = "艾克美"
""",
        encoding="utf-8",
    )
    return cfg


class Fleet:
    """The processes of one deployment, with their logs in the test's directory."""

    def __init__(self, cfg: Path, logs: Path) -> None:
        self.cfg = cfg
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, role: str, **env: str) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "sentinel.cli", "run", "--config", str(self.cfg), "--role", role],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"processes died: {dead}; see {self.logs}"

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    logs = tmp_path / "logs"
    logs.mkdir()
    f = Fleet(tmp_path / "sentinel.toml", logs)
    try:
        yield f
    finally:
        f.stop()


async def _query(url: str, sql: str) -> object:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return None  # restarting
    try:
        return await conn.fetchval(sql)
    except (OSError, asyncpg.PostgresError):
        return None
    finally:
        await conn.close()


async def _missing(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        have = {int(r[0]) - 4_950_000_000_000_000 for r in await conn.fetch("SELECT post_id FROM posts")}
    finally:
        await conn.close()
    gone = sorted(set(range(N)) - have)
    return f"{len(gone)} missing, first {gone[:5]}, last {gone[-5:]}"


async def _wait_published(fleet: Fleet, url: str, at_least: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        fleet.check_alive()
        raw = await _query(url, "SELECT cursor FROM source_cursors WHERE source = 'watermark:replay'")
        if isinstance(raw, str) and sum(json.loads(raw)["buckets"].values()) >= at_least:
            return
        assert time.monotonic() < deadline, f"fewer than {at_least} posts published after {within}s"
        await asyncio.sleep(0.05)


async def _wait_stored(fleet: Fleet, url: str, at_least: int, within: float) -> int:
    deadline = time.monotonic() + within
    while True:
        fleet.check_alive()
        n = await _query(url, "SELECT count(*) FROM posts")
        if isinstance(n, int) and n >= at_least:
            return n
        if time.monotonic() > deadline:
            raise AssertionError(
                f"only {n} of {at_least} posts stored after {within}s: {await _missing(url)}"
            )
        await asyncio.sleep(0.2)


async def test_faults_lose_nothing_and_alerts_match_the_one_process_run(
    tmp_path: Path, broker: Broker, pg_cluster: PgCluster, fleet: Fleet
) -> None:
    pytest.importorskip("sentinel.risk", reason="the risk engine is needed for alert events")
    records = stream(N)
    posts = write_jsonl(tmp_path / "posts.jsonl", records)
    cfg = _config(tmp_path, broker, pg_cluster, posts)
    # the reference: the one-process run over the same stream
    await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "sentinel.cli",
            "backtest",
            "-c",
            str(cfg),
            "-i",
            str(posts),
            "-o",
            str(tmp_path / "expected.jsonl"),
        ],
        check=True,
        capture_output=True,
    )
    expected = [json.loads(line) for line in (tmp_path / "expected.jsonl").read_text().splitlines()]
    assert expected, "the stream should raise alerts"
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "sentinel.cli", "db", "upgrade", "-c", str(cfg)],
        check=True,
        capture_output=True,
    )

    fleet.start("score", "score")
    for k in range(1, WORKERS + 1):
        fleet.start(f"worker-{k}", "classify", SENTINEL_BUS__CLIENT_ID=f"worker-{k}")
    fleet.start("collect", "collect", SENTINEL_BUS__CLIENT_ID="collector-1")
    url = pg_cluster.url
    started = time.monotonic()

    # the broker restarts while the collector is still publishing (its watermark tells how far)
    await _wait_published(fleet, url, N // 4, 120)
    await asyncio.to_thread(broker.restart)

    await _wait_stored(fleet, url, (N * 3) // 10, 120)
    fleet.kill("worker-2")  # holding unacknowledged posts in its session
    await asyncio.sleep(1.0)
    fleet.start("worker-2b", "classify", SENTINEL_BUS__CLIENT_ID="worker-2")
    del fleet.procs["worker-2"]

    await _wait_stored(fleet, url, (N * 3) // 5, 120)
    await asyncio.to_thread(pg_cluster.restart)

    await _wait_stored(fleet, url, N, 150)
    # the scorer has seen everything once its horizon reached the last post
    deadline = time.monotonic() + 60
    newest = await _query(url, "SELECT max(created_ts) FROM posts")
    while True:
        fleet.check_alive()
        raw = await _query(url, "SELECT cursor FROM source_cursors WHERE source = 'risk:scorer'")
        if isinstance(raw, str) and json.loads(raw)["horizon"] >= newest:  # type: ignore[operator]
            break
        assert time.monotonic() < deadline, "the scorer did not catch up"
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    fleet.stop()

    assert await _query(url, "SELECT count(*) FROM posts") == N
    assert await _query(url, "SELECT count(DISTINCT post_id) FROM posts") == N
    assert await _query(url, "SELECT count(*) FROM classifications") == N
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT data FROM alert_events ORDER BY id")
    finally:
        await conn.close()
    got = [json.loads(r["data"]) for r in rows]
    (tmp_path / "got.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in got)
    )
    keys = ("event", "watch", "level", "risk", "at", "factors", "posts")
    assert [{k: e[k] for k in keys} for e in got] == [{k: e[k] for k in keys} for e in expected]
    print(f"{N} posts through 1 collector, {WORKERS} workers, 1 scorer with faults in {elapsed:.1f}s")
