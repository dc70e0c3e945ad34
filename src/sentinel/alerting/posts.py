"""The stored posts of one watch over a time range, for reports and effect evaluation.

Posts are matched with the watch's query from the config (the same language the risk
engine uses, :mod:`sentinel.risk.query`). A watch no longer in the config falls back to the
posts its alert events listed. Posts come from the store with their scores: nothing is
classified again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import func, select

from sentinel.config import Config
from sentinel.post import ScoredPost
from sentinel.risk.base import AlertEvent
from sentinel.store import schema as t
from sentinel.store.sql import SqlStore

__all__ = ["PostFilter", "load_watch_posts", "watch_filter"]

PostFilter = Callable[[ScoredPost], bool]


def watch_filter(config: Config, watch: str, events: Iterable[AlertEvent] = ()) -> PostFilter:
    """Which posts belong to ``watch``: its query, else the posts its alert events named."""
    spec = next((w for w in config.watches if w.name == watch), None)
    if spec is not None:
        from sentinel.risk.query import parse_query
        from sentinel.risk.text import fold

        query = parse_query(spec.query)
        return lambda sp: query.matches(fold(sp.post.text))
    ids = {str(pid) for ev in events for pid in ev.posts}
    ids |= {str(s.get("id")) for ev in events for s in ev.samples if isinstance(s, dict) and s.get("id")}
    return lambda sp: sp.post.id in ids or f"{sp.post.platform}:{sp.post.id}" in ids


async def load_watch_posts(
    store: SqlStore,
    keep: PostFilter,
    *,
    since: datetime,
    until: datetime,
    progress: bool | None = None,
) -> list[ScoredPost]:
    """Scored posts in [since, until) that ``keep`` accepts, oldest first.

    ``progress`` shows a tqdm bar; ``None`` means "when stderr is a terminal" (quiet in pipes).
    """
    if progress is None:
        progress = sys.stderr.isatty()
    total = None
    if progress:
        async with store.engine.connect() as conn:
            total = int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(t.posts)
                        .where(
                            t.posts.c.created_ts >= since.timestamp(),
                            t.posts.c.created_ts < until.timestamp(),
                        )
                    )
                ).scalar_one()
            )
    from tqdm import tqdm

    kept: list[ScoredPost] = []
    with tqdm(
        total=total, disable=not progress, unit=" posts", desc="reading posts", file=sys.stderr, leave=False
    ) as bar:
        async for sp in store.scored_posts(since=since, until=until):
            bar.update(1)
            if keep(sp):
                kept.append(sp)
    return kept
