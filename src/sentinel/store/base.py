"""The store seam: what the pipeline, the roles, alerting and notify ask of storage.

One method per question, grouped by aggregate; nothing outside :mod:`sentinel.store` runs
SQL. :class:`~sentinel.store.SqlStore` implements it for SQLite and PostgreSQL (one
SQLAlchemy code path, ``INSERT .. ON CONFLICT .. RETURNING`` in both); the store tests run
the same cases against each (tests/core/test_store.py, tests/scale/test_store_dialects.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sentinel.clock import Clock
from sentinel.post import Post, ScoredPost
from sentinel.risk.base import AlertEvent
from sentinel.store.alerts import AlertRecord, Audit, AuditEntry, ResponseEvent, Silence
from sentinel.store.lease import Lease
from sentinel.store.outbox import OutboxEntry

__all__ = ["Store"]


class Store(Protocol):
    """Posts and their classifications, alerts and their events, silences and acks, the
    outbox, cursors and leases."""

    # -- lifecycle and health ----------------------------------------------------------------

    async def open(self, *, migrate: bool = True) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...

    @property
    def writable(self) -> bool: ...

    # -- posts and their classifications -----------------------------------------------------

    async def known(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]: ...
    async def write_batch(
        self,
        scored: Sequence[tuple[ScoredPost, str]],
        seen_again: Sequence[tuple[Post, str]],
        *,
        model: str,
        now: datetime,
    ) -> list[ScoredPost]: ...
    async def count_posts(self, *, since: datetime | None = None, until: datetime | None = None) -> int: ...
    def scored_posts(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int | None = None
    ) -> AsyncIterator[ScoredPost]: ...
    async def matching_posts(
        self,
        keep: Callable[[str, str], bool],
        *,
        since: datetime,
        until: datetime,
        page: int = ...,
        on_page: Callable[[int], object] = ...,
    ) -> list[ScoredPost]: ...
    async def stored_between(
        self,
        lower: float,
        upper: float,
        *,
        stored_before: float | None = None,
        skip: Container[int] = (),
        limit: int | None = None,
    ) -> list[Any]: ...
    async def posts_per_hour(self, source: str, hours: Sequence[int], *, until: float) -> list[int]: ...
    async def prune_posts(self, older_than: datetime, *, batch: int = 5000) -> int: ...

    # -- alerts and their events -------------------------------------------------------------

    async def open_alert_levels(self) -> dict[str, str]: ...
    async def save_events(
        self,
        events: Sequence[AlertEvent],
        channels_for: Callable[[AlertEvent], list[str]],
        *,
        cursor: tuple[str, str] | None = None,
        fence: Callable[[Any], Awaitable[None]] | None = None,
    ) -> list[AlertEvent]: ...
    async def alert_events(
        self, *, watch: str | None = None, alert_id: int | None = None
    ) -> list[AlertEvent]: ...
    async def list_alerts(
        self, *, watch: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[AlertRecord]: ...
    async def alerts_between(self, watch: str, since: datetime, until: datetime) -> list[AlertRecord]: ...
    async def get_alert(self, alert_id: int) -> AlertRecord | None: ...
    async def alert_watches(self) -> set[str]: ...

    # -- silences, acknowledgements, responses, audit ----------------------------------------

    async def ack_alert(self, alert_id: int, note: str | None, audit: Audit) -> bool: ...
    async def resolve_alert(self, alert_id: int, audit: Audit) -> AlertRecord | None: ...
    async def open_acks(self, watches: Sequence[str]) -> dict[str, AlertRecord]: ...
    async def add_silence(
        self, watch: str, starts: datetime, ends: datetime, reason: str | None, audit: Audit
    ) -> Silence: ...
    async def expire_silence(self, silence_id: int, audit: Audit) -> Silence | None: ...
    async def silences(
        self,
        *,
        watches: Sequence[str] | None = None,
        active_at: datetime | None = None,
        silence_id: int | None = None,
    ) -> list[Silence]: ...
    async def add_response(self, response: ResponseEvent, audit: Audit) -> int: ...
    async def responses(
        self, *, watch: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[ResponseEvent]: ...
    async def audit_trail(self, *, target: str | None = None, limit: int = 200) -> list[AuditEntry]: ...

    # -- the outbox --------------------------------------------------------------------------

    async def outbox_counts(self) -> dict[str, dict[str, int]]: ...
    async def outbox_entries(
        self, *, status: str | None = None, channel: str | None = None, limit: int | None = None
    ) -> list[OutboxEntry]: ...
    async def requeue_dead(self, channel: str | None = None) -> int: ...
    async def sent_times(self, channel: str, since: float) -> list[float]: ...
    async def claim_outbox(self, rows: Mapping[int, float], now: float, until: float) -> bool: ...
    async def release_outbox(self, rows: Mapping[int, float]) -> None: ...
    async def fail_outbox(
        self, dead: list[int], retry: Mapping[int, tuple[int, float]], error: str
    ) -> None: ...
    async def mark_outbox(
        self, ids: list[int], *, status: str, error: str | None, at: float, tried: bool
    ) -> None: ...

    # -- cursors and leases ------------------------------------------------------------------

    async def get_cursor(self, source: str) -> str | None: ...
    async def set_cursor(self, source: str, cursor: str) -> None: ...
    async def cursors(self, prefix: str) -> dict[str, str]: ...
    async def save_cursors(self, cursors: Sequence[tuple[str, str]], at: float) -> None: ...
    def lease(self, name: str, holder: str, *, ttl: float, clock: Clock | None = None) -> Lease: ...
