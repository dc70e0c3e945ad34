"""The bus seam between collectors and the classifier/store stage.

Delivery is at-least-once: a consumer acknowledges an envelope only after the store
committed it, and the store's (platform, id) identity absorbs redeliveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sentinel.batching import take_batch
from sentinel.post import Post

__all__ = ["Bus", "Envelope", "take_batch"]


@dataclass(slots=True)
class Envelope:
    post: Post
    source: str
    enqueued_at: float  # time.monotonic() when published, for pipeline latency
    token: Any = field(default=None)  # the bus's own handle for ack


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(self, post: Post, source: str) -> None:
        """Hand a post on; waits (backpressure) while the bus is full."""
        ...

    async def get_batch(self, max_items: int, max_wait: float) -> list[Envelope]:
        """Up to ``max_items`` envelopes, waiting at most ``max_wait`` s once the first arrived."""
        ...

    async def ack(self, envelopes: Sequence[Envelope]) -> None: ...

    async def drain(self) -> None:
        """Wait until every post published so far has been acknowledged."""
        ...

    async def settle(self) -> None:
        """Wait until the publishes in flight now are the bus's (not for ones started
        meanwhile, nor for acknowledgements, as :meth:`drain` does)."""
        ...

    def depth(self) -> int: ...

    @property
    def connected(self) -> bool:
        """Whether the bus can take and hand out posts now (``/readyz``)."""
        ...

    async def close(self) -> None: ...
