"""``sentinel run`` as a real process: SIGTERM stops cleanly, SIGKILL loses nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import record, write_jsonl

N = 20_000


def _sentinel(*args: str) -> list[str]:
    return [sys.executable, "-m", "sentinel.cli", *args]


def _write_config(tmp_path: Path, posts: Path) -> Path:
    cfg = tmp_path / "sentinel.toml"
    cfg.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path}/sentinel.db"
[metrics]
enabled = false
[classifier]
type = "lexicon"
[bus]
max_size = 500
batch_size = 100
[[source]]
name = "replay"
type = "file"
path = "{posts}"
checkpoint_every = 500
[[watch]]
name = "acme"
query = "艾克美"
""",
        encoding="utf-8",
    )
    return cfg


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM posts").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not migrated yet


def _wait(predicate, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            log = Path(str(proc.args[-1])).with_suffix(".log")  # type: ignore[index]
            pytest.fail(f"sentinel exited early with {proc.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.1)


def _start(cfg: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """The daemon, its log in sentinel.log beside the config (a file: a pipe could fill and block it)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with cfg.with_suffix(".log").open("ab") as log:
        return subprocess.Popen(
            _sentinel("run", "--config", str(cfg)), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )


@pytest.fixture
def stream(tmp_path: Path) -> tuple[Path, list[str]]:
    records = [record(i) for i in range(N)]
    return write_jsonl(tmp_path / "posts.jsonl", records), [r["id"] for r in records]


def test_sigkill_during_ingest_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, stream: tuple[Path, list[str]]
) -> None:
    posts, ids = stream
    cfg = _write_config(tmp_path, posts)
    db = tmp_path / "sentinel.db"
    proc = _start(cfg, tmp_path)
    _wait(lambda: _count(db) >= 2000, 120, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    killed_at = _count(db)
    assert killed_at < N, "the kill came too late to prove anything"
    proc = _start(cfg, tmp_path)
    try:
        _wait(lambda: _count(db) >= N, 180, proc)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    with sqlite3.connect(db) as conn:
        stored = [r[0] for r in conn.execute("SELECT post_id FROM posts")]
        scored = conn.execute("SELECT count(*) FROM classifications").fetchone()[0]
    assert sorted(stored) == sorted(ids)  # every post, each once
    assert scored == N  # and each scored exactly once


def test_sigterm_drains_and_exits_zero(tmp_path: Path, stream: tuple[Path, list[str]]) -> None:
    posts, _ = stream
    cfg = _write_config(tmp_path, posts)
    db = tmp_path / "sentinel.db"
    proc = _start(cfg, tmp_path)
    _wait(lambda: _count(db) >= 1000, 120, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    stopped_at = _count(db)
    with sqlite3.connect(db) as conn:
        cursor = json.loads(conn.execute("SELECT cursor FROM source_cursors").fetchone()[0])
    # the cursor never runs ahead of what was stored: every line before it is in the database
    lines_before_cursor = posts.read_bytes()[: cursor["offset"]].count(b"\n")
    assert lines_before_cursor <= stopped_at
