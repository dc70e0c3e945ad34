"""The ``post_watches`` part of :class:`~sentinel.store.SqlStore`: which watches each post
belongs to (the rules: :mod:`sentinel.store.membership`), decided in the transaction that
stores the post, and read back by every view through :meth:`WatchTables.watch_posts`.

Out of order: a repost stored before its original has no watch yet (its parent is unknown);
when the original is stored, its stored descendants are looked up (``repost_of`` is indexed)
and given the original's watches, through the chain. On PostgreSQL the deciding step takes a
transaction-level advisory lock, so that two writers storing a repost and its original at
the same moment decide one after the other, the second seeing the first's rows.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sentinel.gcpause import gc_paused
from sentinel.post import Author, Post, ScoredPost, parse_post
from sentinel.store import schema as t
from sentinel.store.membership import Membership, WatchRule

__all__ = ["WatchPost", "WatchTables", "stored_post"]

log = logging.getLogger(__name__)

_LOCK = 23_0002  # pg_advisory_xact_lock key of the deciding step
_CHUNK = 400

Key = tuple[str, str]  # (platform, post id)


_POST_KEYS = frozenset(
    {"platform", "id", "text", "created_at", "author", "reposts", "comments", "likes", "url", "repost_of"}
)
_AUTHOR_KEYS = frozenset({"id", "name", "followers", "verified"})


def stored_post(data: str) -> Post:
    """A stored post back from its JSON. The store wrote it from a validated :class:`Post`, so
    the validating parser (a third of a report's time on big ranges) is only the fallback."""
    d = _loads(data)
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
                extra=_extra(a, _AUTHOR_KEYS),
            ),
            reposts=int(d.get("reposts") or 0),
            comments=int(d.get("comments") or 0),
            likes=int(d.get("likes") or 0),
            url=d.get("url"),
            repost_of=d.get("repost_of"),
            extra=_extra(d, _POST_KEYS),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return parse_post(d, max_text=10**9)


_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _loads(s: str) -> Any:
    """``json.loads`` of what ``json.dumps`` wrote (no whitespace around it), without the
    Python layers around the C scanner: a third of the time of decoding a small object."""
    try:
        value, end = _scan(s, 0)
    except StopIteration:
        return json.loads(s)  # not JSON at 0: json.loads says why
    return value if end == len(s) else json.loads(s)


def _extra(d: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    # most posts have no field beyond the known ones: one set test instead of a comprehension
    return {} if d.keys() <= known else {k: v for k, v in d.items() if k not in known}


@dataclass(frozen=True, slots=True)
class WatchPost:
    """A stored, scored post of a watch, with why it belongs (own | match | repost)."""

    scored: ScoredPost
    via: str


class WatchTables:
    """A mixin: it needs ``engine``, ``dialect``, ``writing`` and ``_insert`` of
    :class:`~sentinel.store.SqlStore`."""

    engine: AsyncEngine
    dialect: str
    writing: Callable[[str], Any]
    _insert: Callable[[Any], Any]
    membership: Membership | None = None

    # -- the rules ---------------------------------------------------------------------------

    async def use_watches(self, membership: Membership) -> dict[str, int]:
        """Decide with ``membership`` from now on; first re-decide, over every stored post, the
        watches whose rule is new or changed (a store from before ``post_watches``, a watch
        added, a query edited). Returns {watch: its posts} for the watches re-decided."""
        self.membership = membership
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.watch_rules.c.watch, t.watch_rules.c.fingerprint))
            stored = {r.watch: r.fingerprint for r in rows}
        stale = [r for r in membership.rules if stored.get(r.name) != r.fingerprint]
        return await self.redecide(stale) if stale else {}

    async def redecide(self, rules: Sequence[WatchRule]) -> dict[str, int]:
        """Decide ``rules``' watches again for every stored post (one transaction)."""
        started = time.perf_counter()
        m = Membership.of_rules(rules)
        counts: dict[str, int] = {}
        async with self.writing("watches") as conn:
            await self._lock(conn)
            await conn.execute(
                delete(t.post_watches).where(t.post_watches.c.watch.in_([r.name for r in rules]))
            )
            pk_of: dict[Key, int] = {}
            children: dict[Key, list[Key]] = {}
            decided: dict[Key, dict[str, str]] = {}
            p = t.posts.c
            after = 0
            while True:
                rows = (
                    await conn.execute(
                        select(p.pk, p.platform, p.post_id, p.author_id, p.repost_of, p.text)
                        .where(p.pk > after)
                        .order_by(p.pk)
                        .limit(5000)
                    )
                ).all()
                if not rows:
                    break
                after = rows[-1].pk
                for row in rows:
                    key = (row.platform, row.post_id)
                    pk_of[key] = row.pk
                    if row.repost_of is not None:
                        children.setdefault((row.platform, row.repost_of), []).append(key)
                    own = m.decide(row.text, row.author_id)
                    if own:
                        decided[key] = own
            frontier = list(decided)
            while frontier:  # down the chains: each post once per watch it gains
                nxt: list[Key] = []
                for parent in frontier:
                    for child in children.get(parent, ()):
                        mine = decided.setdefault(child, {})
                        gained = [w for w in decided[parent] if w not in mine]
                        for w in gained:
                            mine[w] = "repost"
                        if gained:
                            nxt.append(child)
                frontier = nxt
            rows_out = [
                {"post_pk": pk_of[k], "watch": w, "via": via}
                for k, d in decided.items()
                for w, via in d.items()
            ]
            for i in range(0, len(rows_out), 5000):
                await conn.execute(t.post_watches.insert(), rows_out[i : i + 5000])
            now = time.time()
            for r in rules:
                counts[r.name] = sum(1 for d in decided.values() if r.name in d)
                await conn.execute(
                    self._insert(t.watch_rules)
                    .values(watch=r.name, fingerprint=r.fingerprint, decided_ts=now)
                    .on_conflict_do_update(
                        index_elements=["watch"], set_={"fingerprint": r.fingerprint, "decided_ts": now}
                    )
                )
        log.info(
            "watch membership decided again for %s over %d stored post(s) in %.1fs",
            ", ".join(f"{k} ({v} posts)" for k, v in counts.items()),
            len(pk_of),
            time.perf_counter() - started,
        )
        return counts

    # -- deciding new posts (inside write_batch's transaction) -------------------------------

    async def decide_new(self, conn: AsyncConnection, new: Sequence[tuple[int, Post]]) -> None:
        """Give newly stored posts their watches, and their stored descendants too."""
        m = self.membership
        if m is None or not m.rules or not new:
            return
        await self._lock(conn)
        pk_of = {p.key: pk for pk, p in new}
        decided = {p.key: m.decide_post(p) for _, p in new}
        outside = {(p.platform, p.repost_of) for _, p in new if p.repost_of is not None}
        inherited = await self._watches_of(conn, [k for k in outside if k not in pk_of])
        changed = True
        while changed:  # a chain inside one batch: parents first, however the batch is ordered
            changed = False
            for _, p in new:
                if p.repost_of is None:
                    continue
                parent = (p.platform, p.repost_of)
                mine = decided[p.key]
                for w in decided[parent] if parent in decided else inherited.get(parent, ()):
                    if w not in mine:
                        mine[w] = "repost"
                        changed = True
        rows = [
            {"post_pk": pk_of[k], "watch": w, "via": via} for k, d in decided.items() for w, via in d.items()
        ]
        if rows:
            await conn.execute(
                self._insert(t.post_watches).on_conflict_do_nothing(index_elements=["post_pk", "watch"]), rows
            )
        await self._descend(conn, {k: set(d) for k, d in decided.items() if d})

    async def _descend(self, conn: AsyncConnection, frontier: dict[Key, set[str]]) -> None:
        """Stored reposts of ``frontier``'s posts (reposts that arrived first) gain its watches."""
        p, w = t.posts.c, t.post_watches.c
        while frontier:
            nxt: dict[Key, set[str]] = {}
            by_platform: dict[str, list[str]] = {}
            for platform, pid in frontier:
                by_platform.setdefault(platform, []).append(pid)
            for platform, ids in by_platform.items():
                for i in range(0, len(ids), _CHUNK):
                    rows = await conn.execute(
                        select(p.pk, p.post_id, p.repost_of, w.watch)
                        .outerjoin(t.post_watches, w.post_pk == p.pk)
                        .where(p.platform == platform, p.repost_of.in_(ids[i : i + _CHUNK]))
                    )
                    have: dict[tuple[int, str, str], set[str]] = {}
                    for row in rows:
                        mine = have.setdefault((row.pk, row.post_id, row.repost_of), set())
                        if row.watch is not None:
                            mine.add(row.watch)
                    add = []
                    for (pk, pid, parent), mine in have.items():
                        gained = frontier.get((platform, parent), set()) - mine
                        if gained:
                            add += [{"post_pk": pk, "watch": g, "via": "repost"} for g in sorted(gained)]
                            nxt.setdefault((platform, pid), set()).update(gained)
                    if add:
                        await conn.execute(
                            self._insert(t.post_watches).on_conflict_do_nothing(
                                index_elements=["post_pk", "watch"]
                            ),
                            add,
                        )
            frontier = nxt

    async def _watches_of(self, conn: AsyncConnection, keys: Iterable[Key]) -> dict[Key, set[str]]:
        p, w = t.posts.c, t.post_watches.c
        by_platform: dict[str, list[str]] = {}
        for platform, pid in set(keys):
            by_platform.setdefault(platform, []).append(pid)
        out: dict[Key, set[str]] = {}
        for platform, ids in by_platform.items():
            for i in range(0, len(ids), _CHUNK):
                rows = await conn.execute(
                    select(p.post_id, w.watch)
                    .join(t.post_watches, w.post_pk == p.pk)
                    .where(p.platform == platform, p.post_id.in_(ids[i : i + _CHUNK]))
                )
                for row in rows:
                    out.setdefault((platform, row.post_id), set()).add(row.watch)
        return out

    async def _lock(self, conn: AsyncConnection) -> None:
        if self.dialect == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})

    # -- reading -----------------------------------------------------------------------------

    async def watch_posts(
        self,
        watch: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        page: int = 5000,
        on_page: Callable[[int], object] = lambda n: None,
    ) -> list[WatchPost]:
        """The scored posts of ``watch`` created in [since, until), oldest first, with why
        each belongs: one query, its rows handed over ``page`` at a time (``on_page(n)`` is
        told each). It holds its connection while it reads (a tenth of a second for a week of
        a busy watch); keyset pages (:meth:`iter_watch_posts`) hold none between pages, but
        run the query again for each, sorting what is left of the range: twice the time."""
        out: list[WatchPost] = []
        async with self.engine.connect() as conn:
            result = await conn.stream(self._watch_posts_query(watch, since, until))
            async for rows in result.partitions(page):
                on_page(len(rows))
                with gc_paused():
                    out += [_watch_post(row) for row in rows]
        return out

    async def iter_watch_posts(
        self,
        watch: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        page: int = 5000,
        on_page: Callable[[int], object] = lambda n: None,
    ) -> AsyncIterator[WatchPost]:
        """:meth:`watch_posts` a keyset page at a time (``export`` of a long range, read as
        slowly as its output is written: no connection is held between pages)."""
        p = t.posts.c
        base = self._watch_posts_query(watch, since, until).limit(page)
        after: tuple[float, int] | None = None
        while True:
            q = base
            if after is not None:
                q = q.where(or_(p.created_ts > after[0], and_(p.created_ts == after[0], p.pk > after[1])))
            async with self.engine.connect() as conn:  # one page a connection: a slow reader holds none
                rows = (await conn.execute(q)).all()
            if not rows:
                return
            after = (rows[-1].created_ts, rows[-1].pk)
            on_page(len(rows))
            for row in rows:
                yield _watch_post(row)
            if len(rows) < page:
                return

    def _watch_posts_query(self, watch: str, since: datetime | None, until: datetime | None) -> Select[Any]:
        p, c, w = t.posts.c, t.classifications.c, t.post_watches.c
        q = (
            select(p.pk, p.created_ts, p.data, c.negative, c.label, c.topics, w.via)
            .join(t.post_watches, w.post_pk == p.pk)
            .join(t.classifications, c.post_pk == p.pk)
            .where(w.watch == watch)
            .order_by(p.created_ts, p.pk)
        )
        if since is not None:
            q = q.where(p.created_ts >= since.timestamp())
        if until is not None:
            q = q.where(p.created_ts < until.timestamp())
        return q

    async def count_watch_posts(
        self, watch: str, since: datetime | None = None, until: datetime | None = None
    ) -> int:
        p, w = t.posts.c, t.post_watches.c
        q = (
            select(func.count())
            .select_from(t.post_watches.join(t.posts, w.post_pk == p.pk))
            .where(w.watch == watch)
        )
        if since is not None:
            q = q.where(p.created_ts >= since.timestamp())
        if until is not None:
            q = q.where(p.created_ts < until.timestamp())
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())

    async def last_post_at(self, *, until: datetime | None = None) -> datetime | None:
        """The newest stored post's time (at or before ``until``): where the collected data
        ends, whatever the wall clock says (a daemon stopped after a response)."""
        q = select(func.max(t.posts.c.created_ts))
        if until is not None:
            q = q.where(t.posts.c.created_ts <= until.timestamp())
        async with self.engine.connect() as conn:
            ts = (await conn.execute(q)).scalar_one_or_none()
        return None if ts is None else datetime.fromtimestamp(float(ts), UTC)


def _watch_post(row: Sequence[Any]) -> WatchPost:
    _, _, data, negative, label, topics, via = row  # _watch_posts_query's columns
    return WatchPost(ScoredPost(stored_post(data), negative, label, _loads(topics)), via)
