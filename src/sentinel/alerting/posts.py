"""The stored posts of one watch over a time range, for reports and effect evaluation.

Posts are matched with the watch's query from the config (the same language the risk
engine uses, :mod:`sentinel.risk.query`). A watch no longer in the config falls back to the
posts its alert events listed. Posts come from the store with their scores: nothing is
classified again.

The query is tested on the raw ``text`` column before a row's JSON is decoded, and rows are
read in pages of a few thousand (one round trip each), so a week of a busy brand reads in
seconds rather than minutes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime

from sentinel.config import Config
from sentinel.post import Author, Post, ScoredPost, parse_post
from sentinel.risk.base import AlertEvent
from sentinel.store.sql import SqlStore

__all__ = ["PAGE", "PostFilter", "load_watch_posts", "watch_filter"]

PAGE = 5000
# (post id, text) -> does the post belong to the watch?
PostFilter = Callable[[str, str], bool]


def watch_filter(config: Config, watch: str, events: Iterable[AlertEvent] = ()) -> PostFilter:
    """Which posts belong to ``watch``: its query, else the posts its alert events named."""
    spec = next((w for w in config.watches if w.name == watch), None)
    if spec is not None:
        from sentinel.risk.query import parse_query
        from sentinel.risk.text import fold

        query = parse_query(spec.query)
        return lambda _id, text: query.matches(fold(text))
    ids = {str(pid) for ev in events for pid in ev.posts}
    ids |= {str(s.get("id")) for ev in events for s in ev.samples if isinstance(s, dict) and s.get("id")}
    return lambda post_id, _text: post_id in ids


_POST_KEYS = frozenset(
    {"platform", "id", "text", "created_at", "author", "reposts", "comments", "likes", "url", "repost_of"}
)
_AUTHOR_KEYS = frozenset({"id", "name", "followers", "verified"})


def _post(data: str) -> Post:
    """A stored post back from its JSON. The store wrote it from a validated :class:`Post`, so
    the validating parser (a third of the report's time on big ranges) is only the fallback."""
    d = json.loads(data)
    try:
        a = d.get("author") or {}
        return Post(
            platform=d["platform"],
            id=d["id"],
            text=d["text"],
            created_at=datetime.fromisoformat(d["created_at"]),
            author=Author(
                id=a.get("id"),
                name=a.get("name"),
                followers=int(a.get("followers") or 0),
                verified=bool(a.get("verified")),
                extra={k: v for k, v in a.items() if k not in _AUTHOR_KEYS},
            ),
            reposts=int(d.get("reposts") or 0),
            comments=int(d.get("comments") or 0),
            likes=int(d.get("likes") or 0),
            url=d.get("url"),
            repost_of=d.get("repost_of"),
            extra={k: v for k, v in d.items() if k not in _POST_KEYS},
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return parse_post(d, max_text=10**9)


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
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the train extra; a report does not need it
        progress = False
    if not progress:
        return await store.matching_posts(keep, since=since, until=until, page=PAGE)
    total = await store.count_posts(since=since, until=until)
    with tqdm(total=total, unit=" posts", desc="reading posts", file=sys.stderr, leave=False) as bar:
        return await store.matching_posts(keep, since=since, until=until, page=PAGE, on_page=bar.update)
