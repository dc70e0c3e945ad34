"""The source seam: a collector turns some feed into canonical post records.

A polling source implements ``collect`` (one run; the scheduler calls it every
``interval`` with jitter). A streaming source (``streaming = True``) implements
``collect`` as a loop that runs until cancelled. Both hand records to a
:class:`PostSink`, which validates, counts rejections and applies backpressure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sentinel.clock import Clock
from sentinel.config import SourceConfig
from sentinel.obs.metrics import Metrics
from sentinel.post import Post

__all__ = ["CursorStore", "PostSink", "Source", "SourceContext", "SourceHealth"]


class PostSink(Protocol):
    async def put(self, record: Mapping[str, Any] | Post) -> bool:
        """Validate and enqueue one record; waits while the bus is full. False if rejected (counted)."""
        ...

    def reject(self, reason: str, detail: str) -> None:
        """Count a record the source itself could not parse (reason is a short metric label)."""
        ...

    async def flush(self) -> None:
        """Wait until every record put so far is stored; call before saving a cursor."""
        ...


class CursorStore(Protocol):
    async def get_cursor(self, source: str) -> str | None: ...

    async def set_cursor(self, source: str, cursor: str) -> None: ...


@dataclass
class SourceHealth:
    """What the operator (metrics) and the risk engine ("collection went silent") see."""

    source: str
    metrics: Metrics
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    consecutive_failures: int = 0
    blocked: bool = False
    items_last_run: int = 0
    last_error: str | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def success(self, now: datetime, items: int) -> None:
        self.last_attempt = self.last_success = now
        self.consecutive_failures = 0
        self.blocked = False
        self.items_last_run = items
        self.metrics.source_last_success.labels(self.source).set(now.timestamp())
        self.metrics.source_blocked.labels(self.source).set(0)
        self.metrics.source_consecutive_failures.labels(self.source).set(0)
        self.metrics.source_items.labels(self.source).inc(items)

    def failure(self, now: datetime, kind: str, detail: str, *, blocked: bool = False) -> None:
        self.last_attempt = now
        self.consecutive_failures += 1
        self.blocked = blocked
        self.last_error = f"{kind}: {detail}"[:500]
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.metrics.fetch_errors.labels(self.source, kind).inc()
        self.metrics.source_blocked.labels(self.source).set(1 if blocked else 0)
        self.metrics.source_consecutive_failures.labels(self.source).set(self.consecutive_failures)


@dataclass
class SourceContext:
    """Everything a source gets from the runtime."""

    config: SourceConfig
    clock: Clock
    cursors: CursorStore
    metrics: Metrics
    health: SourceHealth
    secrets: Mapping[str, str] = field(default_factory=dict)  # e.g. cookies, resolved from env: by config

    @property
    def name(self) -> str:
        return self.config.name


class Source(Protocol):
    name: str
    streaming: bool

    async def collect(self, sink: PostSink) -> None: ...

    async def close(self) -> None: ...
