"""Batching: micro-batches from an asyncio queue (the buses, the classifier engine) and fixed-size
chunks of a stream (backtest, ``sentinel classify``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["chunked", "take_batch"]

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


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter), read lazily."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
