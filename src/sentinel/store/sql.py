"""The store on SQLAlchemy 2 async: SQLite (aiosqlite, WAL) by default, PostgreSQL (asyncpg) to scale.

One code path for both dialects: ``INSERT .. ON CONFLICT`` and ``RETURNING`` exist in each.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, delete, event, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from sentinel.clock import Clock
from sentinel.config import StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.paths import REPO_ROOT, find
from sentinel.post import Post, ScoredPost, parse_post
from sentinel.store import schema as t
from sentinel.store.activity import ActivityTables
from sentinel.store.alerts import AlertTables
from sentinel.store.lease import Lease
from sentinel.store.outbox import OutboxTables
from sentinel.store.retry import data_fault, describe
from sentinel.store.users import UserTables
from sentinel.store.watches import WatchTables

__all__ = ["SqlStore", "StoredPost", "async_url"]

log = logging.getLogger(__name__)


def alembic_dir() -> Path:
    """The migrations: the repository's ``alembic/`` (an editable install, the Docker image), else
    ``./alembic`` (a wheel installed elsewhere, started from a checkout); a clear error if neither."""
    found = find("alembic", "env.py", repo_first=True)
    if found is None:
        raise FileNotFoundError(
            f"no Alembic migrations (alembic/env.py) at {REPO_ROOT / 'alembic'} or {Path.cwd() / 'alembic'}: "
            "start sentinel from its checkout, or install it editable (pip install -e .)"
        )
    return found


def async_url(url: str) -> str:
    """Map the user's URL onto the async driver: sqlite -> aiosqlite, postgresql -> asyncpg."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"storage url must look like sqlite:///path or postgresql://..., got {url!r}")
    base = scheme.split("+")[0]
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(f"unsupported storage scheme {scheme!r} (sqlite or postgresql)")


def _ts(when: datetime) -> float:
    return when.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class StoredPost:
    """A stored, scored post with its row key and event time."""

    pk: int
    created_ts: float
    scored: ScoredPost


def _post_from_row(data: str) -> Post:
    return parse_post(json.loads(data), max_text=10**9)


class SqlStore(AlertTables, OutboxTables, WatchTables, UserTables, ActivityTables):
    """Posts, classifications, alerts, cursors and the notification outbox.

    Every write goes through :meth:`writing`, which keeps :attr:`writable` (what ``/readyz``
    reports) and the ``sentinel_store_write_failures_total`` / ``sentinel_store_healthy``
    metrics: a read-only probe cannot tell that a locked or full database refuses writes.
    """

    def __init__(self, config: StorageConfig, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        url = async_url(config.url)
        self.dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        kwargs: dict[str, Any] = {"echo": config.echo}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=config.pool_size, max_overflow=config.pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._writable = True

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self, *, migrate: bool = True) -> None:
        if self.dialect == "sqlite":
            db_path = self.engine.url.database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        if migrate:
            await self.upgrade()

    async def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations (the same ones ``sentinel db upgrade`` runs)."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        location = alembic_dir()

        def run(connection: Connection) -> None:
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(location))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        async with self.engine.begin() as conn:
            await conn.run_sync(run)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # readiness reports any failure as not ready
            return False

    @property
    def writable(self) -> bool:
        """False from a write failing for a storage reason until a write succeeds again."""
        return self._writable

    @contextlib.asynccontextmanager
    async def writing(self, op: str) -> AsyncIterator[AsyncConnection]:
        """One write transaction (``op`` names it in the metrics), its outcome recorded.

        A failure is counted; one the storage is to blame for (see
        :func:`~sentinel.store.retry.data_fault`) marks the store unwritable until a write
        succeeds. The exception propagates: retrying is the caller's business.
        """
        try:
            async with self.engine.begin() as conn:
                yield conn
        except Exception as exc:
            self._write_failed(op, exc)
            raise
        if not self._writable:
            self._writable = True
            self.metrics.store_healthy.set(1)
            log.info("store writes succeed again")

    def _write_failed(self, op: str, exc: Exception) -> None:
        self.metrics.store_write_failures.labels(op).inc()
        if not data_fault(exc) and self._writable:
            self._writable = False
            self.metrics.store_healthy.set(0)
            log.warning("store writes failing: %s", describe(exc))

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # -- posts -------------------------------------------------------------------------------

    async def known(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (platform, id) keys are already stored (and therefore scored)."""
        ids_by_platform: dict[str, list[str]] = {}
        for platform, post_id in set(keys):
            ids_by_platform.setdefault(platform, []).append(post_id)
        found: set[tuple[str, str]] = set()
        try:
            return await self._known(ids_by_platform, found)
        except Exception as exc:
            self._write_failed("posts", exc)  # the first step of every posts write
            raise

    async def _known(
        self, ids_by_platform: dict[str, list[str]], found: set[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        async with self.engine.connect() as conn:
            # one platform at a time: "platform = ? AND post_id IN (...)" is an index search,
            # where SQLite answers a row-value "(platform, post_id) IN (...)" by scanning the
            # whole index - a cost that grew with the table, on every batch
            for platform, ids in ids_by_platform.items():
                for i in range(0, len(ids), 400):
                    rows = await conn.execute(
                        select(t.posts.c.post_id).where(
                            t.posts.c.platform == platform, t.posts.c.post_id.in_(ids[i : i + 400])
                        )
                    )
                    found.update((platform, r[0]) for r in rows)
        return found

    async def write_batch(
        self,
        scored: Sequence[tuple[ScoredPost, str]],
        seen_again: Sequence[tuple[Post, str]],
        *,
        model: str,
        now: datetime,
    ) -> list[ScoredPost]:
        """Store new posts with their scores, and update counters of posts seen again.

        ``scored`` and ``seen_again`` hold (post, source name). Returns the scored posts that
        were really new: a concurrent writer may have stored some first, and those are
        treated as seen again. One transaction: a post is never stored without its scores.
        """
        started = time.perf_counter()
        now_ts = _ts(now)
        inserted: list[ScoredPost] = []
        again = list(seen_again)
        async with self.writing("posts") as conn:
            if scored:
                by_key = {sp.post.key: (sp, src) for sp, src in scored}
                rows = [
                    {
                        "platform": sp.post.platform,
                        "post_id": sp.post.id,
                        "created_ts": _ts(sp.post.created_at),
                        "ingested_ts": now_ts,
                        "updated_ts": now_ts,
                        "source": src,
                        "author_id": sp.post.author.id,
                        "followers": sp.post.author.followers,
                        "reposts": sp.post.reposts,
                        "comments": sp.post.comments,
                        "likes": sp.post.likes,
                        "repost_of": sp.post.repost_of,
                        "seen": 1,
                        "text": sp.post.text,
                        "data": json.dumps(sp.post.to_dict(), ensure_ascii=False),
                    }
                    for sp, src in by_key.values()
                ]
                stmt = (
                    self._insert(t.posts)
                    .on_conflict_do_nothing(index_elements=["platform", "post_id"])
                    .returning(t.posts.c.pk, t.posts.c.platform, t.posts.c.post_id)
                )
                result = await conn.execute(stmt, rows)
                new_pks = {(r.platform, r.post_id): r.pk for r in result}
                classes = []
                for key, (sp, src) in by_key.items():
                    pk = new_pks.get(key)
                    if pk is None:
                        again.append((sp.post, src))
                        continue
                    inserted.append(sp)
                    classes.append(
                        {
                            "post_pk": pk,
                            "model": model,
                            "negative": sp.negative,
                            "label": sp.label,
                            "topics": json.dumps(sp.topics, ensure_ascii=False),
                            "scored_ts": now_ts,
                        }
                    )
                if classes:
                    await conn.execute(t.classifications.insert(), classes)
                # which watches they belong to, with the posts (store/watches.py)
                await self.decide_new(conn, [(new_pks[sp.post.key], sp.post) for sp in inserted])
            if again:
                await conn.execute(
                    update(t.posts)
                    .where(and_(t.posts.c.platform == _b("b_platform"), t.posts.c.post_id == _b("b_id")))
                    .values(
                        reposts=func.max(t.posts.c.reposts, _b("b_reposts"))
                        if self.dialect == "sqlite"
                        else func.greatest(t.posts.c.reposts, _b("b_reposts")),
                        comments=_b("b_comments"),
                        likes=_b("b_likes"),
                        followers=_b("b_followers"),
                        seen=t.posts.c.seen + 1,
                        updated_ts=now_ts,
                    ),
                    [
                        {
                            "b_platform": p.platform,
                            "b_id": p.id,
                            "b_reposts": p.reposts,
                            "b_comments": p.comments,
                            "b_likes": p.likes,
                            "b_followers": p.author.followers,
                        }
                        for p, _ in again
                    ],
                )
        self.metrics.store_write_seconds.labels("posts").observe(time.perf_counter() - started)
        sources = {sp.post.key: src for sp, src in scored}
        for sp in inserted:
            self.metrics.posts_ingested.labels(sp.post.platform, sources[sp.post.key]).inc()
        for p, src in again:
            self.metrics.posts_duplicate.labels(p.platform, src).inc()
        return inserted

    async def count_posts(self, *, since: datetime | None = None, until: datetime | None = None) -> int:
        q = select(func.count()).select_from(t.posts)
        if since is not None:
            q = q.where(t.posts.c.created_ts >= _ts(since))
        if until is not None:
            q = q.where(t.posts.c.created_ts < _ts(until))
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())

    async def scored_posts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[ScoredPost]:
        """Stored posts with their scores, oldest first (export, warm start, reports)."""
        q = (
            select(
                t.posts.c.data,
                t.classifications.c.negative,
                t.classifications.c.label,
                t.classifications.c.topics,
            )
            .join(t.classifications, t.classifications.c.post_pk == t.posts.c.pk)
            .order_by(t.posts.c.created_ts, t.posts.c.pk)
        )
        if since is not None:
            q = q.where(t.posts.c.created_ts >= _ts(since))
        if until is not None:
            q = q.where(t.posts.c.created_ts < _ts(until))
        if limit is not None:
            q = q.limit(limit)
        async with self.engine.connect() as conn:
            result = await conn.stream(q.execution_options(yield_per=1000))
            async for row in result:
                yield ScoredPost(
                    post=_post_from_row(row.data),
                    negative=row.negative,
                    label=row.label,
                    topics=json.loads(row.topics),
                )

    async def posts_per_hour(self, source: str, hours: Sequence[int], *, until: float) -> list[int]:
        """How many stored posts of ``source`` fall in each event-time hour of ``hours``
        (``created_ts // 3600``), counting only those created at or before ``until``."""
        if not hours:
            return []
        ts = t.posts.c.created_ts
        cols = [func.sum(case((and_(ts >= h * 3600.0, ts < (h + 1) * 3600.0), 1), else_=0)) for h in hours]
        q = select(*cols).where(t.posts.c.source == source, ts >= min(hours) * 3600.0, ts <= until)
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).one()
        return [int(n or 0) for n in row]

    async def stored_between(
        self,
        lower: float,
        upper: float,
        *,
        stored_before: float | None = None,
        skip: Container[int] = (),
        limit: int | None = None,
    ) -> list[StoredPost]:
        """Scored posts with ``lower < created_ts <= upper`` (and stored before
        ``stored_before``) whose keys are not in ``skip``, oldest first, at most ``limit``.

        Keys first, then the rows of the new ones: a caller that re-reads a window it has
        mostly seen (the scorer's late window) fetches only what is new.
        """
        keys = select(t.posts.c.pk, t.posts.c.created_ts).order_by(t.posts.c.created_ts, t.posts.c.pk)
        if math.isfinite(lower):
            keys = keys.where(t.posts.c.created_ts > lower)
        if math.isfinite(upper):
            keys = keys.where(t.posts.c.created_ts <= upper)
        if stored_before is not None:
            keys = keys.where(t.posts.c.ingested_ts <= stored_before)
        out: list[StoredPost] = []
        async with self.engine.connect() as conn:
            todo = [int(r.pk) for r in await conn.execute(keys) if r.pk not in skip]
            if limit is not None:
                todo = todo[:limit]
            for i in range(0, len(todo), 500):
                rows = await conn.execute(
                    select(
                        t.posts.c.pk,
                        t.posts.c.created_ts,
                        t.posts.c.data,
                        t.classifications.c.negative,
                        t.classifications.c.label,
                        t.classifications.c.topics,
                    )
                    .join(t.classifications, t.classifications.c.post_pk == t.posts.c.pk)
                    .where(t.posts.c.pk.in_(todo[i : i + 500]))
                )
                for row in rows:
                    scored = ScoredPost(
                        _post_from_row(row.data), row.negative, row.label, json.loads(row.topics)
                    )
                    out.append(StoredPost(int(row.pk), float(row.created_ts), scored))
        out.sort(key=lambda r: (r.created_ts, r.pk))
        return out

    async def prune_posts(self, older_than: datetime, *, batch: int = 5000) -> int:
        """Delete old posts in small transactions so ingestion never waits long."""
        removed = 0
        while True:
            async with self.engine.begin() as conn:
                pks = [
                    r[0]
                    for r in await conn.execute(
                        select(t.posts.c.pk).where(t.posts.c.created_ts < _ts(older_than)).limit(batch)
                    )
                ]
                if not pks:
                    return removed
                await conn.execute(delete(t.classifications).where(t.classifications.c.post_pk.in_(pks)))
                await conn.execute(delete(t.post_watches).where(t.post_watches.c.post_pk.in_(pks)))
                await conn.execute(delete(t.posts).where(t.posts.c.pk.in_(pks)))
                removed += len(pks)

    # -- cursors -----------------------------------------------------------------------------

    async def get_cursor(self, source: str) -> str | None:
        async with self.engine.connect() as conn:
            row = await conn.execute(
                select(t.source_cursors.c.cursor).where(t.source_cursors.c.source == source)
            )
            value = row.scalar_one_or_none()
            return None if value is None else str(value)

    async def set_cursor(self, source: str, cursor: str) -> None:
        async with self.writing("cursor") as conn:
            await self.upsert_cursor(conn, source, cursor)

    async def upsert_cursor(
        self, conn: AsyncConnection, source: str, cursor: str, at: float | None = None
    ) -> None:
        """Save a cursor inside the caller's transaction (with what it stands for)."""
        at = time.time() if at is None else at
        stmt = self._insert(t.source_cursors).values(source=source, cursor=cursor, updated_ts=at)
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=["source"], set_={"cursor": cursor, "updated_ts": at})
        )

    async def cursors(self, prefix: str) -> dict[str, str]:
        """Every cursor whose name starts with ``prefix`` (the collectors' watermarks)."""
        q = select(t.source_cursors.c.source, t.source_cursors.c.cursor).where(
            t.source_cursors.c.source.like(prefix + "%")
        )
        async with self.engine.connect() as conn:
            return {str(r.source): str(r.cursor) for r in await conn.execute(q)}

    async def save_cursors(self, cursors: Sequence[tuple[str, str]], at: float) -> None:
        """Several cursors in one transaction (a source's cursor with its watermark)."""
        async with self.writing("cursor") as conn:
            for source, cursor in cursors:
                await self.upsert_cursor(conn, source, cursor, at)

    # -- leases ------------------------------------------------------------------------------

    def lease(self, name: str, holder: str, *, ttl: float, clock: Clock | None = None) -> Lease:
        """The singleton lease ``name`` (the scorer, the notifier) as ``holder`` sees it."""
        return Lease(self.engine, name, holder, ttl=ttl, clock=clock)


def _b(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (export, metrics) run while the pipeline writes; NORMAL sync is
    # durable across process crashes, which is what at-least-once ingest needs.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
