"""Poison records against a real PostgreSQL (issue 19): one of them used to fail a whole batch.

PostgreSQL's INTEGER is 32-bit, its text refuses NUL, and ``platform`` is VARCHAR(32): the
parser clamps, cleans or rejects so that every post it accepts can be stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sentinel.config import StorageConfig
from sentinel.post import MAX_COUNT, PostError, ScoredPost, parse_post
from sentinel.store import SqlStore

T0 = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def _record(i: int, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "platform": "weibo",
        "id": str(4950000000000000 + i),
        "text": "艾克美",
        "created_at": (T0 + timedelta(seconds=i)).isoformat(),
    }
    rec.update(extra)
    return rec


async def test_clamped_and_cleaned_posts_store_on_postgresql(pg_url: str) -> None:
    recs = [
        _record(1, reposts=2**31, likes=10**20),
        _record(2, author={"id": "7", "followers": "99999999999999999999999"}),
        _record(3, text="坏\x00了", repost_of="1\x00", vendor={"k\x00": "v\x00"}),
        _record(4, author={"id": "a\x00", "name": "n\x00"}),
        _record(5),
    ]
    with pytest.raises(PostError):
        parse_post(_record(6, platform="p" * 33))
    store = SqlStore(StorageConfig(url=pg_url))
    await store.open()
    try:
        batch = [(ScoredPost(parse_post(r), 0.5, "neutral", {}), "s") for r in recs]
        await store.write_batch(batch, [], model="m", now=T0)
        assert await store.count_posts() == 5
        stored = {sp.post.id: sp.post async for sp in store.scored_posts()}
        assert stored["4950000000000001"].reposts == MAX_COUNT
        assert stored["4950000000000002"].author.followers == MAX_COUNT
        assert stored["4950000000000003"].text == "坏\ufffd了"
    finally:
        await store.close()
