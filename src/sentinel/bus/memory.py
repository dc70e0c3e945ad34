"""The embedded bus: a bounded asyncio queue inside the one process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from sentinel.bus.base import Envelope, take_batch
from sentinel.post import Post

__all__ = ["MemoryBus"]


class MemoryBus:
    """Bounded, so a fast source waits instead of growing memory without limit.

    >>> bus = MemoryBus(max_size=2)
    """

    def __init__(self, max_size: int = 10_000) -> None:
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize=max_size)
        self._unacked = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        return None

    async def publish(self, post: Post, source: str) -> None:
        self._unacked += 1
        self._idle.clear()
        await self._queue.put(Envelope(post, source, time.monotonic()))

    async def get_batch(self, max_items: int, max_wait: float) -> list[Envelope]:
        batch = await take_batch(self._queue, max_items, max_wait)
        return batch

    async def ack(self, envelopes: Sequence[Envelope]) -> None:
        self._unacked -= len(envelopes)
        if self._unacked <= 0:
            self._unacked = 0
            self._idle.set()

    async def drain(self) -> None:
        await self._idle.wait()

    async def settle(self) -> None:
        return None  # a publish hands the post over at once

    @property
    def connected(self) -> bool:
        return True

    def depth(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        return None
