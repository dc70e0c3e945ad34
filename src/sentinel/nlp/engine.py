"""Dynamic micro-batching around a synchronous classifier, for the asyncio daemon.

Callers ``await engine.score(texts)`` from anywhere in the event loop; texts from all callers
are pooled into batches of at most ``max_batch_size``, waiting at most ``max_wait_ms`` for a
batch to fill, sorted by length (less padding), and scored in one worker thread so the event
loop never blocks on the model.

>>> async with InferenceEngine(classifier, max_batch_size=64, max_wait_ms=10) as engine:
...     scores = await engine.score(["物流太慢了", "很满意"])
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from sentinel.batching import take_batch
from sentinel.nlp.base import Classifier, Scores

__all__ = ["EngineStats", "InferenceEngine"]


@dataclass(slots=True)
class EngineStats:
    batches: int = 0
    texts: int = 0
    largest_batch: int = 0


@dataclass(slots=True)
class _Item:
    text: str
    future: asyncio.Future[Scores]


class InferenceEngine:
    def __init__(
        self, classifier: Classifier, *, max_batch_size: int = 64, max_wait_ms: float = 10.0
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self.classifier = classifier
        self.max_batch_size = max_batch_size
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.stats = EngineStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        # One thread: the model parallelises inside (torch intra-op threads); two batches
        # at once would only fight over the same cores.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentinel-classify")
        self._closed = False

    async def __aenter__(self) -> InferenceEngine:
        self._ensure_started()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _ensure_started(self) -> asyncio.Queue[_Item]:
        if self._closed:
            raise RuntimeError("the inference engine is closed")
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(self._queue), name="sentinel-inference")
        return self._queue

    async def score(self, texts: Sequence[str]) -> list[Scores]:
        """Scores for ``texts``, in their order."""
        if not texts:
            return []
        queue = self._ensure_started()
        loop = asyncio.get_running_loop()
        items = [_Item(text, loop.create_future()) for text in texts]
        for item in items:
            queue.put_nowait(item)
        return list(await asyncio.gather(*(item.future for item in items)))

    async def close(self) -> None:
        """Finish what is queued, then stop the worker and its thread."""
        self._closed = True
        if self._worker is not None and self._queue is not None:
            await self._queue.join()
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=True)

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await take_batch(queue, self.max_batch_size, self.max_wait)
            try:
                live = sorted((i for i in batch if not i.future.done()), key=lambda i: len(i.text))
                if live:
                    texts = [i.text for i in live]
                    try:
                        scores = await loop.run_in_executor(self._executor, self.classifier.classify, texts)
                    except Exception as exc:  # the callers get the error, the worker lives on
                        for item in live:
                            if not item.future.done():
                                item.future.set_exception(exc)
                    else:
                        for item, result in zip(live, scores, strict=True):
                            if not item.future.done():
                                item.future.set_result(result)
                        self.stats.batches += 1
                        self.stats.texts += len(live)
                        self.stats.largest_batch = max(self.stats.largest_batch, len(live))
            finally:
                for _ in batch:
                    queue.task_done()
