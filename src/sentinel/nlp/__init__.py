"""Sentiment and crisis-topic scoring: the classifier seam, the bundled model, the engine.

>>> clf = build_classifier(ClassifierConfig())        # models/default, int8, 2 threads
>>> clf.classify(["客服态度太差了"])[0].negative > 0.5
True
"""

from __future__ import annotations

from typing import Any, Protocol

from sentinel.nlp.base import Classifier, Scores, sentiment_label

__all__ = ["Classifier", "ClassifierSettings", "Scores", "build_classifier", "sentiment_label"]


class ClassifierSettings(Protocol):
    """The ``[classifier]`` config section, as far as building a classifier needs it."""

    type: str
    model: str
    threads: int
    batch_size: int
    max_length: int
    quantize: bool
    label_map: dict[str, str]


def build_classifier(cfg: ClassifierSettings | Any) -> Classifier:
    """The classifier named by ``cfg.type``: ``transformer`` (default) or ``lexicon``."""
    kind = (getattr(cfg, "type", None) or "transformer").lower()
    if kind == "transformer":
        # Imported here: torch and transformers take seconds to import, and the lexicon
        # fallback must not need them.
        from sentinel.nlp.transformer import TransformerClassifier

        return TransformerClassifier(
            cfg.model,
            threads=cfg.threads,
            max_length=cfg.max_length,
            batch_size=cfg.batch_size,
            quantize=cfg.quantize,
            label_map=dict(cfg.label_map or {}),
        )
    if kind == "lexicon":
        from sentinel.nlp.lexicon import LexiconClassifier

        return LexiconClassifier()
    raise ValueError(f"classifier.type: unknown classifier {cfg.type!r} (use 'transformer' or 'lexicon')")
