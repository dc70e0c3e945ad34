"""The collect role's watermarks, and roles refusing what cannot work."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sentinel.bus import build_bus
from sentinel.config import ConfigError, config_from_dict
from sentinel.obs.metrics import Metrics
from sentinel.roles import WATERMARK_PREFIX, CollectRole, Watermark, run_role

from .conftest import eventually
from .support import record, write_jsonl


def _config(tmp_path: Path, mqtt_url: str, prefix: str, posts: Path):  # type: ignore[no-untyped-def]
    return config_from_dict(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/s.db"},
            "metrics": {"enabled": False},
            "bus": {"type": "mqtt", "url": mqtt_url, "topic_prefix": prefix},
            "source": [
                {"name": "replay", "type": "file", "path": str(posts), "poll": 0.05, "checkpoint_every": 40}
            ],
        },
        environ={},
    )


async def _mark(role: CollectRole) -> Watermark | None:
    raw = await role.store.get_cursor(WATERMARK_PREFIX + "replay")
    return None if raw is None else Watermark.from_json("replay", raw)


async def test_collector_saves_watermarks_with_its_cursor(
    tmp_path: Path, mqtt_url: str, topic_prefix: str, metrics: Metrics
) -> None:
    # 150 posts over three event hours, one line twice (counted once), one bad line
    records = [record(i, step=90.0) for i in range(150)]
    posts = write_jsonl(tmp_path / "posts.jsonl", [*records, records[3]])
    with posts.open("a") as fh:
        fh.write("{not json\n")
    cfg = _config(tmp_path, mqtt_url, topic_prefix, posts)
    worker = build_bus(cfg.bus.model_copy(update={"client_id": f"{topic_prefix}-w"}), role="classify")
    await worker.start()

    async def take() -> None:  # a classifier worker: the broker holds posts nobody would receive
        while True:
            await worker.ack(await worker.get_batch(100, 0.01))

    taking = asyncio.create_task(take())
    role = CollectRole(cfg, metrics=metrics)
    await role.start()
    try:

        async def idle() -> bool:
            mark = await _mark(role)
            return mark is not None and mark.idle

        await eventually(idle)
        mark = await _mark(role)
        assert mark is not None
        assert sum(mark.buckets.values()) == 150 and len(mark.buckets) == 4
        assert mark.max_ts == pytest.approx(max(json_ts(r) for r in records))
        cursor = json.loads(await role.store.get_cursor("replay") or "{}")
        assert cursor["offset"] == posts.stat().st_size
        # more lines: the collector is busy again, then idle with the new counts
        with posts.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record(150, step=90.0), ensure_ascii=False) + "\n")

        async def counted() -> bool:
            m = await _mark(role)
            return m is not None and m.idle and sum(m.buckets.values()) == 151

        await eventually(counted)
    finally:
        await role.stop()
    # a restarted collector resumes its counts from the store and re-reads nothing twice
    again = CollectRole(cfg, metrics=Metrics())
    await again.start()
    try:

        async def resumed() -> bool:
            m = await _mark(again)
            return m is not None and m.idle

        await eventually(resumed)
        m = await _mark(again)
        assert m is not None and sum(m.buckets.values()) == 151
    finally:
        await again.stop()
        taking.cancel()
        await worker.close()


def json_ts(r: dict) -> float:  # type: ignore[type-arg]
    from datetime import datetime

    return datetime.fromisoformat(r["created_at"]).timestamp()


async def test_roles_refuse_what_cannot_work(tmp_path: Path) -> None:
    cfg = config_from_dict({"storage": {"url": f"sqlite:///{tmp_path}/s.db"}}, environ={})
    with pytest.raises(ConfigError, match="needs \\[bus\\] type"):
        await run_role(cfg, "classify")
    with pytest.raises(ConfigError, match="unknown role"):
        await run_role(cfg, "dance")


async def test_role_all_runs_the_same_pipeline_over_mqtt(
    tmp_path: Path, mqtt_url: str, topic_prefix: str
) -> None:
    from sentinel.pipeline import Runtime

    records = [record(i) for i in range(200)]
    posts = write_jsonl(tmp_path / "posts.jsonl", [*records, records[0]])
    cfg = config_from_dict(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/s.db"},
            "metrics": {"enabled": False},
            "classifier": {"type": "lexicon"},
            "bus": {
                "type": "mqtt",
                "url": mqtt_url,
                "topic_prefix": topic_prefix,
                "client_id": f"{topic_prefix}-all",
            },
            "source": [{"name": "replay", "type": "file", "path": str(posts), "follow": False}],
            "watch": [{"name": "acme", "query": "艾克美"}],
        },
        environ={},
    )
    runtime = Runtime(cfg, metrics=Metrics(), notifiers=[])
    await runtime.start()
    try:

        async def stored() -> bool:
            return await runtime.store.count_posts() == 200

        await eventually(stored)
        assert runtime.bus.depth() == 0
    finally:
        await runtime.stop()


async def test_one_notify_process_delivers_the_outbox(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from sentinel.risk.base import AlertEvent
    from sentinel.roles import NotifyRole
    from sentinel.store import schema as t

    cfg = config_from_dict(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/s.db"},
            "metrics": {"enabled": False},
            "notify": [{"type": "console"}],
        },
        environ={},
    )
    first = NotifyRole(cfg, metrics=Metrics(), lease_ttl=1.0)
    second = NotifyRole(cfg, metrics=Metrics(), lease_ttl=1.0)
    first.holder, second.holder = "first", "second"
    await first.start()

    async def leading(role: NotifyRole) -> bool:
        return role.dispatcher is not None

    await eventually(lambda: leading(first))
    await second.start()
    try:
        # the scorer, in another process, wrote an event and its outbox row
        event = AlertEvent("opened", "acme", "yellow", 55.0, datetime(2026, 11, 1, tzinfo=UTC))
        await first.store.save_events([event], lambda ev: ["console"])

        async def sent() -> bool:
            async with first.store.engine.connect() as conn:
                rows = (await conn.execute(select(t.outbox.c.status))).all()
            return [r.status for r in rows] == ["sent"]

        await eventually(sent)
        assert second.dispatcher is None  # a standby sends nothing
        await first.stop()  # releases the lease: the standby takes over
        await eventually(lambda: leading(second))
    finally:
        await second.stop()


async def test_watermarks_of_a_source_without_cursors(tmp_path: Path) -> None:
    from sentinel.bus.memory import MemoryBus
    from sentinel.clock import SystemClock
    from sentinel.config import StorageConfig
    from sentinel.roles import CountingSink, WatermarkCursors
    from sentinel.store import SqlStore

    store = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path}/s.db"), Metrics())
    await store.open()
    cursors = WatermarkCursors(store, SystemClock())
    sink = CountingSink("live", MemoryBus(), Metrics(), cursors)
    try:
        await cursors.load(sink)

        async def mark() -> Watermark:
            raw = await store.get_cursor(WATERMARK_PREFIX + "live")
            assert raw is not None
            return Watermark.from_json("live", raw)

        first = await mark()  # a new source: the scorer waits for it from the start
        assert not first.idle and first.max_ts is None
        for i in range(3):
            assert await sink.put(record(i))
        assert await sink.put(record(1))  # seen again: published, not counted twice
        await cursors.refresh(sink)
        busy = await mark()
        assert not busy.idle and sum(busy.buckets.values()) == 3
        await cursors.refresh(sink)  # nothing new since: idle
        assert (await mark()).idle
        assert await sink.put(record(3))  # busy again, written before the post left
        assert not (await mark()).idle
        # a source that saves cursors: counts go with its cursor, idle only once quiet
        await cursors.set_cursor("live", "offset-1")
        assert await store.get_cursor("live") == "offset-1"
        assert sum((await mark()).buckets.values()) == 4 and sink.checkpointed
        await cursors.refresh(sink)
        assert (await mark()).idle
    finally:
        await store.close()
