from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sentinel.obs.metrics import Metrics
from sentinel.post import ScoredPost, parse_post
from sentinel.risk.base import AlertEvent
from sentinel.store import SqlStore, async_url

from .conftest import T0, record


def scored(i: int, **kw: Any) -> ScoredPost:
    return ScoredPost(parse_post(record(i, **kw)), 0.8, "negative", {"product_quality": 0.7})


def test_async_url() -> None:
    assert async_url("sqlite:///./x.db") == "sqlite+aiosqlite:///./x.db"
    assert async_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"


async def test_ingest_is_idempotent_and_updates_counters(store: SqlStore, metrics: Metrics) -> None:
    new = await store.write_batch([(scored(i), "src") for i in range(5)], [], model="m", now=T0)
    assert len(new) == 5
    # the same posts again: nothing new, counters move on
    again = await store.write_batch([(scored(i), "src") for i in range(5)], [], model="m", now=T0)
    assert again == []
    later = parse_post(record(2, reposts=50, likes=9))
    await store.write_batch([], [(later, "src")], model="m", now=T0)
    assert await store.count_posts() == 5
    rows = [sp async for sp in store.scored_posts()]
    assert [sp.post.id for sp in rows] == [record(i)["id"] for i in range(5)]
    assert (
        metrics.registry.get_sample_value(
            "sentinel_posts_ingested_total", {"platform": "weibo", "source": "src"}
        )
        == 5
    )
    assert (
        metrics.registry.get_sample_value(
            "sentinel_posts_duplicate_total", {"platform": "weibo", "source": "src"}
        )
        == 6
    )
    assert await store.known([("weibo", record(1)["id"]), ("weibo", "nope")]) == {("weibo", record(1)["id"])}


async def test_scores_and_extra_fields_survive(store: SqlStore) -> None:
    await store.write_batch([(scored(1, vendor="x"), "src")], [], model="m", now=T0)
    [sp] = [sp async for sp in store.scored_posts()]
    assert sp.negative == 0.8 and sp.topics == {"product_quality": 0.7}
    assert sp.post.extra == {"vendor": "x"}
    assert sp.to_dict()["sentiment"] == {"label": "negative", "negative": 0.8}


def test_a_stored_post_reads_back_as_the_validating_parser_reads_it() -> None:
    """stored_post skips the validation of what the store wrote itself: the same post, extra
    fields (of the post and of its author) included."""
    import json

    from sentinel.store.watches import stored_post

    plain = record(1)
    extra = record(2, reposts=3, url="https://weibo.com/2", repost_of="1", mood="angry")
    extra["author"] = {**extra["author"], "verified": True, "location": "上海", "tags": ["kol"]}
    for rec in (plain, extra):
        post = parse_post(rec)
        assert stored_post(json.dumps(post.to_dict(), ensure_ascii=False)) == post
    assert stored_post(" " + json.dumps(parse_post(extra).to_dict()) + "\n") == parse_post(extra)
    old = {**record(3), "likes": "12"}  # a counter as a string: a number either way
    assert stored_post(json.dumps(old)) == parse_post(old)
    with pytest.raises(json.JSONDecodeError):
        stored_post('{"platform": "weibo"')


async def test_time_filters_and_prune(store: SqlStore) -> None:
    await store.write_batch([(scored(i), "s") for i in range(10)], [], model="m", now=T0)
    middle = [
        sp
        async for sp in store.scored_posts(since=T0 + timedelta(seconds=3), until=T0 + timedelta(seconds=6))
    ]
    assert len(middle) == 3
    assert await store.prune_posts(T0 + timedelta(seconds=4), batch=2) == 4
    assert await store.count_posts() == 6


async def test_cursors(store: SqlStore) -> None:
    assert await store.get_cursor("a") is None
    await store.set_cursor("a", "1")
    await store.set_cursor("a", "2")
    assert await store.get_cursor("a") == "2"


async def test_alert_events_and_outbox(store: SqlStore) -> None:
    opened = AlertEvent("opened", "acme", "yellow", 55.0, T0, {"volume": {"value": 3}}, ["1"])
    resolved = AlertEvent("resolved", "acme", "blue", 5.0, T0 + timedelta(hours=1), {}, [])
    await store.save_events([opened], lambda ev: ["console", "slack"])
    assert await store.open_alert_levels() == {"acme": "yellow"}
    await store.save_events([resolved], lambda ev: ["console"])
    assert await store.open_alert_levels() == {}
    events = await store.alert_events(watch="acme")
    assert [e.event for e in events] == ["opened", "resolved"]
    assert events[0].alert_id == events[1].alert_id
    async with store.engine.connect() as conn:
        from sqlalchemy import func, select

        from sentinel.store.schema import outbox

        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() == 3


def test_migrations_are_found_from_a_checkout_or_not_at_all(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sentinel import paths
    from sentinel.store import sql

    assert (sql.alembic_dir() / "env.py").is_file()  # the repository's
    # a wheel installed away from the checkout: the package-relative path does not exist
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no Alembic migrations"):
        sql.alembic_dir()
    (tmp_path / "alembic").mkdir()
    (tmp_path / "alembic" / "env.py").write_text("")
    assert sql.alembic_dir() == tmp_path / "alembic"  # started from a checkout
