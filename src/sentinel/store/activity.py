"""What the console draws: a watch's posts and negative posts per time bucket, and a story's
posts for its repost tree.

Counted over ``post_watches`` (the one decision of which posts belong to a watch, so the
console shows the same numbers as the report and the export), in SQL, by bucket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel.post import ScoredPost, parse_post
from sentinel.store import schema as t

__all__ = ["ActivityTables", "Bucket"]

_STORY_POSTS = 2000  # a tree bigger than this is drawn from its first posts


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float  # epoch seconds
    posts: int
    negative: int


class ActivityTables:
    """A mixin of :class:`~sentinel.store.SqlStore` (it needs ``engine``)."""

    engine: AsyncEngine

    async def watch_activity(
        self, watches: list[str], since: datetime, until: datetime, bucket: float
    ) -> dict[str, list[Bucket]]:
        """Per watch, its buckets of ``bucket`` seconds from ``since`` that have posts."""
        lo, hi = since.timestamp(), until.timestamp()
        slot = cast(func.floor((t.posts.c.created_ts - lo) / bucket), Integer)
        negative = func.sum(case((t.classifications.c.label == "negative", 1), else_=0))
        q = (
            select(t.post_watches.c.watch, slot.label("slot"), func.count().label("n"), cast(negative, Float))
            .select_from(
                t.post_watches.join(t.posts, t.posts.c.pk == t.post_watches.c.post_pk).outerjoin(
                    t.classifications, t.classifications.c.post_pk == t.posts.c.pk
                )
            )
            .where(t.post_watches.c.watch.in_(watches), t.posts.c.created_ts >= lo, t.posts.c.created_ts < hi)
            .group_by(t.post_watches.c.watch, slot)
            .order_by(t.post_watches.c.watch, slot)
        )
        out: dict[str, list[Bucket]] = {w: [] for w in watches}
        async with self.engine.connect() as conn:
            for watch, s, n, neg in await conn.execute(q):
                out[watch].append(Bucket(lo + int(s) * bucket, int(n), int(neg or 0)))
        return out

    async def story_posts(self, post_id: str, *, limit: int = _STORY_POSTS) -> list[ScoredPost]:
        """A story: the post ``post_id`` first (when stored), then its reposts, oldest first."""
        cols = (t.posts.c.post_id, t.posts.c.data, t.classifications.c.negative, t.classifications.c.label)
        base = select(*cols).select_from(
            t.posts.outerjoin(t.classifications, t.classifications.c.post_pk == t.posts.c.pk)
        )
        async with self.engine.connect() as conn:
            root = (await conn.execute(base.where(t.posts.c.post_id == post_id).limit(1))).all()
            if not root:
                return []
            platform = json.loads(root[0].data).get("platform")
            reposts = await conn.execute(
                base.where(t.posts.c.platform == platform, t.posts.c.repost_of == post_id)
                .order_by(t.posts.c.created_ts, t.posts.c.pk)
                .limit(limit)
            )
            rows = [*root, *reposts]
        return [
            ScoredPost(
                parse_post(json.loads(r.data), max_text=10**9), r.negative or 0.0, r.label or "neutral", {}
            )
            for r in rows
        ]
