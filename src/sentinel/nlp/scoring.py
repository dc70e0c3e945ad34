"""Classification of posts, shared by the daemon and ``sentinel backtest``."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from sentinel.config import ClassifierConfig
from sentinel.nlp.base import Classifier, Scores, sentiment_label
from sentinel.obs.metrics import Metrics
from sentinel.post import Post, ScoredPost

__all__ = ["Scorer", "TextCache", "load_classifier", "resighted"]

V = TypeVar("V")


def load_classifier(config: ClassifierConfig) -> Classifier:
    """The configured classifier; ``type = "lexicon"`` needs no model files."""
    if config.type == "lexicon":
        from sentinel.nlp.lexicon import LexiconClassifier

        return LexiconClassifier()
    from sentinel.nlp import build_classifier  # the transformer and foreign checkpoints

    classifier: Classifier = build_classifier(config)
    return classifier


class TextCache(Generic[V]):
    """A bounded least-recently-used map from a post's text to what the classifier said.

    Reposts and copies repeat their text (a bare "转发微博", the same ``//@…`` chain reposted
    by a hundred people, a campaign copied by bots), so a stream needs each distinct text
    classified once. The key is the exact text the classifier would see: models differ in
    what they normalise (a foreign checkpoint may be cased), so folding the key could hand
    one text another's score. Eviction follows the order of lookups only, so a replay
    decides hits and misses the same way every time.

    >>> cache: TextCache[int] = TextCache(2)
    >>> cache.put("转发微博", 1); cache.get("转发微博"), cache.get("扩散"), cache.hits, cache.misses
    (1, None, 1, 1)
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, text: str) -> V | None:
        value = self._items.get(text)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(text)
        self.hits += 1
        return value

    def put(self, text: str, value: V) -> None:
        self._items[text] = value
        self._items.move_to_end(text)
        if len(self._items) > self.size:
            self._items.popitem(last=False)


class Scorer:
    """Runs the classifier on batches of posts, off the event loop.

    With ``cache_size`` > 0, each distinct text is classified once while it stays among the
    ``cache_size`` most recently seen (:class:`TextCache`); ``classified`` counts the texts the
    classifier actually saw.
    """

    def __init__(
        self, classifier: Classifier, config: ClassifierConfig, metrics: Metrics, *, cache_size: int = 0
    ) -> None:
        self.classifier = classifier
        self.neutral_band = config.neutral_band
        self.metrics = metrics
        self.cache: TextCache[Scores] | None = TextCache(cache_size) if cache_size > 0 else None
        self.classified = 0
        self._lock = threading.Lock()  # the daemon scores from worker threads

    @property
    def model_name(self) -> str:
        return str(getattr(self.classifier, "name", type(self.classifier).__name__))

    def classify(self, texts: Sequence[str]) -> list[Scores]:
        """The classifier's scores for ``texts``, each distinct uncached text classified once."""
        if not texts:
            return []
        cache = self.cache
        if cache is None:
            return self._classify(texts)
        with self._lock:
            found = [cache.get(t) for t in texts]
        missing = list(dict.fromkeys(t for t, s in zip(texts, found, strict=True) if s is None))
        fresh = dict(zip(missing, self._classify(missing), strict=True)) if missing else {}
        with self._lock:
            for text, scores in fresh.items():
                cache.put(text, scores)
        return [s if s is not None else fresh[t] for t, s in zip(texts, found, strict=True)]

    def _classify(self, texts: Sequence[str]) -> list[Scores]:
        started = time.perf_counter()
        results = self.classifier.classify(texts)
        self.metrics.classify_seconds.observe(time.perf_counter() - started)
        self.metrics.classify_batch_size.observe(len(texts))
        self.classified += len(texts)
        return results

    def scored(self, post: Post, scores: Scores) -> ScoredPost:
        return ScoredPost(
            post,
            scores.negative,
            sentiment_label(scores.negative, self.neutral_band, scores.neutral),
            dict(scores.topics),
        )

    def score_now(self, posts: Sequence[Post]) -> list[ScoredPost]:
        """Synchronous scoring (backtest, and the worker thread of :meth:`score`)."""
        if not posts:
            return []
        results = self.classify([p.text for p in posts])
        return [self.scored(p, s) for p, s in zip(posts, results, strict=True)]

    async def score(self, posts: Sequence[Post]) -> list[ScoredPost]:
        return await asyncio.to_thread(self.score_now, posts)


def resighted(posts: Iterable[Post]) -> list[ScoredPost]:
    """Posts seen again, for the risk engine: only their grown counters are news (spread
    velocity), so they are not classified again; the engine ignores their placeholder scores."""
    return [ScoredPost(p, 0.5, "neutral", {}) for p in posts]
