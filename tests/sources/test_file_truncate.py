"""The file source: a truncate + rewrite between two polls is noticed; bad options are refused at start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sentinel.clock import SystemClock
from sentinel.config import ConfigError, config_from_dict
from sentinel.obs.metrics import Metrics
from sentinel.pipeline import Runtime
from sentinel.sources import build_source
from sentinel.sources.base import SourceContext, SourceHealth


def _record(i: int) -> dict[str, Any]:
    return {
        "platform": "weibo",
        "id": str(4960000000000000 + i),
        "text": f"艾克美 第{i}条",
        "created_at": f"2026-11-28T13:{i // 60 % 60:02d}:{i % 60:02d}+08:00",
    }


def _lines(ids: range) -> str:
    return "".join(json.dumps(_record(i), ensure_ascii=False) + "\n" for i in ids)


async def test_truncate_then_rewrite_longer_than_the_offset_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text(_lines(range(100)), encoding="utf-8")
    cfg = config_from_dict(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/sentinel.db"},
            "metrics": {"enabled": False},
            "classifier": {"type": "lexicon"},
            "source": [{"name": "tail", "type": "file", "path": str(path), "follow": True, "poll": 1.0}],
        },
        environ={},
    )
    runtime = Runtime(cfg, metrics=Metrics(CollectorRegistry()), notifiers=[])
    await runtime.start()
    try:
        await _until(runtime, 100)
        await asyncio.sleep(0.3)  # just after a poll: the rewrite lands before the next one
        old_size = path.stat().st_size
        # same inode, truncated and rewritten past the old offset before the next poll
        with path.open("r+", encoding="utf-8") as fh:
            fh.truncate(0)
            fh.write(_lines(range(1000, 1150)))
        assert path.stat().st_size > old_size
        await _until(runtime, 250)
    finally:
        await runtime.stop()
    assert await _count(tmp_path) == 250


async def _count(tmp_path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "sentinel.db")
    try:
        return int(conn.execute("SELECT count(*) FROM posts").fetchone()[0])
    finally:
        conn.close()


async def _until(runtime: Runtime, n: int, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while await runtime.store.count_posts() < n:
        assert asyncio.get_running_loop().time() < deadline, (
            f"{await runtime.store.count_posts()} of {n} stored"
        )
        await asyncio.sleep(0.05)


def _build(tmp_path: Path, **options: Any) -> Any:
    cfg = config_from_dict(
        {"source": [{"name": "tail", "type": "file", "path": str(tmp_path / "p.jsonl"), **options}]},
        environ={},
    )
    metrics = Metrics(CollectorRegistry())
    sc = cfg.sources[0]
    ctx = SourceContext(
        config=sc,
        clock=SystemClock(),
        cursors=_NoCursors(),
        metrics=metrics,
        health=SourceHealth(sc.name, metrics),
    )
    return build_source(ctx)


class _NoCursors:
    async def get_cursor(self, source: str) -> str | None:
        return None

    async def set_cursor(self, source: str, cursor: str) -> None:
        return None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"poll": -1}, "poll must be a duration of at least"),
        ({"poll": 0}, "poll must be a duration of at least"),
        ({"poll": float("nan")}, "poll must be"),
        ({"poll": "soon"}, "poll must be"),
        ({"follow": "no"}, "follow must be true or false"),
        ({"checkpoint_every": 0}, "checkpoint_every must be a whole number"),
    ],
)
def test_bad_options_are_refused_naming_the_source_and_key(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        _build(tmp_path, **options)
    assert "source 'tail'" in str(err.value)


def test_poll_takes_seconds_or_a_duration(tmp_path: Path) -> None:
    assert _build(tmp_path, poll=2).options.poll == 2.0
    assert _build(tmp_path, poll="500ms").options.poll == 0.5
