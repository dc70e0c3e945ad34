"""Micro-batching from an asyncio queue, shared by the buses and the classifier engine."""

from __future__ import annotations

import asyncio
import time
from typing import TypeVar

__all__ = ["take_batch"]

T = TypeVar("T")


async def take_batch(queue: asyncio.Queue[T], max_items: int, max_wait: float) -> list[T]:
    """Wait for one item, then take up to ``max_items`` arriving within ``max_wait`` s."""
    batch = [await queue.get()]
    deadline = time.monotonic() + max_wait
    while len(batch) < max_items:
        try:
            batch.append(queue.get_nowait())
            continue
        except asyncio.QueueEmpty:
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            batch.append(await asyncio.wait_for(queue.get(), remaining))
        except TimeoutError:
            break
    return batch
