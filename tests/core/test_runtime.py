"""The embedded pipeline in-process: file source -> memory bus -> lexicon -> SQLite -> risk -> console."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from sentinel.clock import SystemClock
from sentinel.config import config_from_dict
from sentinel.notify.console import ConsoleNotifier
from sentinel.obs.metrics import Metrics
from sentinel.pipeline import Runtime

from .conftest import record, write_jsonl


def _config(tmp_path: Path, posts: Path, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "storage": {"url": f"sqlite:///{tmp_path}/sentinel.db"},
        "metrics": {"enabled": False},
        "classifier": {"type": "lexicon"},
        "source": [{"name": "replay", "type": "file", "path": str(posts), "follow": False}],
        "watch": [{"name": "acme", "query": "艾克美 OR ACME"}],
        "notify": [{"type": "console"}],
    }
    data.update(extra)
    return data


async def _wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_file_replay_stores_each_post_once_and_counts_bad_records(tmp_path: Path) -> None:
    good = [record(i) for i in range(300)]
    lines = [json.dumps(r, ensure_ascii=False) for r in good]
    lines += [json.dumps(r, ensure_ascii=False) for r in good[:40]]  # duplicates
    lines += ["{broken json", "[]", json.dumps({"platform": "weibo", "text": "no id"}), ""]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    metrics = Metrics(CollectorRegistry())
    cfg = config_from_dict(_config(tmp_path, path), environ={})
    out = io.StringIO()
    runtime = Runtime(
        cfg,
        metrics=metrics,
        notifiers=[ConsoleNotifier(cfg.notifiers[0], clock=SystemClock(), metrics=metrics, stream=out)],
    )
    await runtime.start()
    try:

        async def done() -> bool:
            return await runtime.store.count_posts() == 300 and runtime.bus.depth() == 0

        await _wait_for(done)
    finally:
        await runtime.stop()
    value = metrics.registry.get_sample_value
    assert value("sentinel_posts_ingested_total", {"platform": "weibo", "source": "replay"}) == 300
    assert value("sentinel_posts_duplicate_total", {"platform": "weibo", "source": "replay"}) == 40
    assert value("sentinel_posts_rejected_total", {"source": "replay", "reason": "bad_json"}) == 1
    assert value("sentinel_posts_rejected_total", {"source": "replay", "reason": "not_object"}) == 1
    assert value("sentinel_posts_rejected_total", {"source": "replay", "reason": "missing_field"}) == 1
    # the cursor is at the end of the file: a restart reads nothing again
    cursor = json.loads(await _cursor(tmp_path))
    assert cursor["offset"] == path.stat().st_size


async def _cursor(tmp_path: Path) -> str:
    import sqlite3

    with sqlite3.connect(tmp_path / "sentinel.db") as conn:
        return str(conn.execute("SELECT cursor FROM source_cursors WHERE source = 'replay'").fetchone()[0])


async def test_restart_resumes_from_cursor_without_reprocessing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [record(i) for i in range(100)])
    metrics = Metrics(CollectorRegistry())
    cfg = config_from_dict(_config(tmp_path, path), environ={})
    runtime = Runtime(cfg, metrics=metrics, notifiers=[])
    await runtime.start()

    async def all_in() -> bool:
        return await runtime.store.count_posts() == 100

    await _wait_for(all_in)
    await runtime.stop()
    with path.open("a", encoding="utf-8") as fh:
        for i in range(100, 150):
            fh.write(json.dumps(record(i), ensure_ascii=False) + "\n")
    metrics2 = Metrics(CollectorRegistry())
    runtime = Runtime(cfg, metrics=metrics2, notifiers=[])
    await runtime.start()

    async def rest_in() -> bool:
        return await runtime.store.count_posts() == 150

    await _wait_for(rest_in)
    await runtime.stop()
    # only the appended lines were read the second time
    assert (
        metrics2.registry.get_sample_value(
            "sentinel_posts_ingested_total", {"platform": "weibo", "source": "replay"}
        )
        == 50
    )
    assert (
        metrics2.registry.get_sample_value(
            "sentinel_posts_duplicate_total", {"platform": "weibo", "source": "replay"}
        )
        is None
    )
