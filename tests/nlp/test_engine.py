from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from sentinel.nlp.base import Scores
from sentinel.nlp.engine import InferenceEngine
from sentinel.nlp.transformer import TransformerClassifier


class RecordingClassifier:
    """Scores a text by its length and records every batch it was given."""

    name = "recording"

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def classify(self, texts: Sequence[str]) -> list[Scores]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(texts))
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("model failed")
        return [Scores(negative=len(t) / 100, topics={"t": 0.0}) for t in texts]


async def test_results_come_back_in_order() -> None:
    clf = RecordingClassifier()
    async with InferenceEngine(clf, max_batch_size=4, max_wait_ms=5) as engine:
        texts = ["x" * n for n in (9, 1, 5, 3, 7, 2)]
        scores = await engine.score(texts)
    assert [s.negative for s in scores] == [len(t) / 100 for t in texts]


async def test_concurrent_callers_share_batches_up_to_the_limit() -> None:
    clf = RecordingClassifier()
    async with InferenceEngine(clf, max_batch_size=8, max_wait_ms=50) as engine:
        results = await asyncio.gather(*(engine.score([f"post {i}"]) for i in range(20)))
    assert [r[0].negative for r in results] == [len(f"post {i}") / 100 for i in range(20)]
    assert max(len(b) for b in clf.batches) == 8
    assert len(clf.batches) == 3  # 8 + 8 + 4, not 20 single calls
    assert engine.stats.texts == 20 and engine.stats.largest_batch == 8


async def test_batches_are_length_sorted_and_run_off_the_loop() -> None:
    clf = RecordingClassifier()
    async with InferenceEngine(clf, max_batch_size=16, max_wait_ms=20) as engine:
        await engine.score(["ccc", "a", "bbbbb", "dd"])
    assert clf.batches == [["a", "dd", "ccc", "bbbbb"]]
    assert all(name.startswith("sentinel-classify") for name in clf.threads)


async def test_max_wait_bounds_latency_of_a_lone_post() -> None:
    clf = RecordingClassifier()
    async with InferenceEngine(clf, max_batch_size=64, max_wait_ms=10) as engine:
        scores = await asyncio.wait_for(engine.score(["only one"]), timeout=2)
    assert len(scores) == 1 and clf.batches == [["only one"]]


async def test_a_failing_batch_fails_its_callers_and_the_engine_lives_on() -> None:
    clf = RecordingClassifier(fail_on="boom")
    async with InferenceEngine(clf, max_batch_size=4, max_wait_ms=1) as engine:
        with pytest.raises(RuntimeError, match="model failed"):
            await engine.score(["boom"])
        assert (await engine.score(["fine"]))[0].negative == pytest.approx(0.04)


async def test_closed_engine_refuses_work() -> None:
    engine = InferenceEngine(RecordingClassifier())
    await engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        await engine.score(["late"])


async def test_engine_with_the_shipped_model(shipped: TransformerClassifier) -> None:
    async with InferenceEngine(shipped, max_batch_size=32, max_wait_ms=5) as engine:
        direct = shipped.classify(["物流太慢了，客服也不理人", "很好用，推荐"])
        pooled = await engine.score(["物流太慢了，客服也不理人", "很好用，推荐"])
    assert [s.negative for s in pooled] == pytest.approx([s.negative for s in direct], abs=1e-5)
