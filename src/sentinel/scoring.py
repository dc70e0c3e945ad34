"""Classification of posts, shared by the daemon and ``sentinel backtest``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

from sentinel.config import ClassifierConfig
from sentinel.nlp.base import Classifier, sentiment_label
from sentinel.obs.metrics import Metrics
from sentinel.post import Post, ScoredPost

__all__ = ["Scorer", "load_classifier", "resighted"]


def load_classifier(config: ClassifierConfig) -> Classifier:
    """The configured classifier; ``type = "lexicon"`` needs no model files."""
    if config.type == "lexicon":
        from sentinel.nlp.lexicon import LexiconClassifier

        return LexiconClassifier()
    from sentinel.nlp import build_classifier  # the transformer and foreign checkpoints

    classifier: Classifier = build_classifier(config)
    return classifier


class Scorer:
    """Runs the classifier on batches of posts, off the event loop."""

    def __init__(self, classifier: Classifier, config: ClassifierConfig, metrics: Metrics) -> None:
        self.classifier = classifier
        self.neutral_band = config.neutral_band
        self.metrics = metrics

    @property
    def model_name(self) -> str:
        return str(getattr(self.classifier, "name", type(self.classifier).__name__))

    def score_now(self, posts: Sequence[Post]) -> list[ScoredPost]:
        """Synchronous scoring (backtest, and the worker thread of :meth:`score`)."""
        if not posts:
            return []
        started = time.perf_counter()
        results = self.classifier.classify([p.text for p in posts])
        self.metrics.classify_seconds.observe(time.perf_counter() - started)
        self.metrics.classify_batch_size.observe(len(posts))
        return [
            ScoredPost(p, s.negative, sentiment_label(s.negative, self.neutral_band), dict(s.topics))
            for p, s in zip(posts, results, strict=True)
        ]

    async def score(self, posts: Sequence[Post]) -> list[ScoredPost]:
        return await asyncio.to_thread(self.score_now, posts)


def resighted(posts: Iterable[Post]) -> list[ScoredPost]:
    """Posts seen again, for the risk engine: only their grown counters are news (spread
    velocity), so they are not classified again; the engine ignores their placeholder scores."""
    return [ScoredPost(p, 0.5, "neutral", {}) for p in posts]
