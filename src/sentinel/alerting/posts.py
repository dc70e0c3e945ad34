"""The stored posts of one watch over a time range, for reports, export and effect evaluation.

Which posts belong to a watch is decided once, when a post is stored (the ``post_watches``
table, :mod:`sentinel.store.membership`): a post matching the watch's query, a repost of one
through its chain (a Weibo repost's own words rarely name the brand), and the posts of the
watch's own accounts. Every view reads that decision through
:meth:`~sentinel.store.SqlStore.watch_posts`, so the report, ``export --watch`` and
``response effect`` count the posts the risk engine counted. Posts come with their scores:
nothing is classified again.

Before reading, :func:`use_config_watches` re-decides the watches whose rule in the config
differs from the one the store decided with (a store written before the table existed, a
query edited): a command run against such a store gets the right answer, not an empty one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sentinel.config import Config
from sentinel.post import ScoredPost
from sentinel.store.membership import Membership, neutral
from sentinel.store.sql import SqlStore
from sentinel.store.watches import WatchPost, stored_post

__all__ = ["PAGE", "WatchPosts", "load_watch_posts", "stored_post", "story_roots", "use_config_watches"]

PAGE = 5000


@dataclass(slots=True)
class WatchPosts:
    """A watch's posts over a range, oldest first.

    ``posts``: every post of the watch, the brand's own ones made neutral (they are not
    negative evidence); ``own``: the brand's own posts as scored (shown as responses)."""

    posts: list[ScoredPost] = field(default_factory=list)
    own: list[ScoredPost] = field(default_factory=list)
    via: dict[str, str] = field(default_factory=dict)  # post id -> own | match | repost

    @classmethod
    def of(cls, rows: Sequence[WatchPost]) -> WatchPosts:
        out = cls()
        for row in rows:
            own = row.via == "own"
            out.posts.append(neutral(row.scored) if own else row.scored)
            if own:
                out.own.append(row.scored)
            out.via[row.scored.post.id] = row.via
        return out


async def use_config_watches(store: SqlStore, config: Config) -> dict[str, int]:
    """Decide with the config's watches (re-deciding those whose rule changed)."""
    return await store.use_watches(Membership.from_config(config))


async def load_watch_posts(
    store: SqlStore,
    config: Config,
    watch: str,
    *,
    since: datetime,
    until: datetime,
    progress: bool | None = None,
) -> WatchPosts:
    """The posts of ``watch`` in [since, until), oldest first.

    ``progress`` shows a tqdm bar; ``None`` means "when stderr is a terminal" (quiet in pipes).
    """
    await use_config_watches(store, config)
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the train extra; a report does not need it
        progress = False
    if not progress:
        return WatchPosts.of(await store.watch_posts(watch, since, until, page=PAGE))
    total = await store.count_watch_posts(watch, since, until)
    with tqdm(total=total, unit=" posts", desc="reading posts", file=sys.stderr, leave=False) as bar:
        return WatchPosts.of(await store.watch_posts(watch, since, until, page=PAGE, on_page=bar.update))


def story_roots(posts: Sequence[ScoredPost]) -> dict[str, str]:
    """Each post's story: the first post of its repost chain among ``posts`` (or, when that
    one is not among them, the id it reposts). Reposts of reposts join their original's story."""
    parent = {sp.post.id: sp.post.repost_of for sp in posts}
    roots: dict[str, str] = {}
    for pid in parent:
        path, cur = [], pid
        while cur not in roots:
            path.append(cur)
            up = parent.get(cur)
            if up is None or up in path:
                break
            if up not in parent:  # the original is not among the posts: it names the story
                roots[up] = up
            cur = up
        root = roots.get(cur, cur)
        for p in path:
            roots[p] = root
    return roots
