"""The classifier seam: text in, sentiment and crisis-topic scores out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Classifier", "Scores", "sentiment_label"]


@dataclass(frozen=True, slots=True)
class Scores:
    """What a classifier says about one text.

    ``negative`` is the model's probability that the text is negative (0..1);
    ``topics`` maps crisis-topic label -> score (0..1) for every topic the model knows;
    ``neutral`` is P(the text takes no side) from a model that learnt a neutral class, else None.
    """

    negative: float
    topics: dict[str, float] = field(default_factory=dict)
    neutral: float | None = None


def sentiment_label(negative: float, neutral_band: float = 0.15, neutral: float | None = None) -> str:
    """Map P(negative) to negative / neutral / positive: neutral is a band around 0.5 (the
    reader is unsure), and with a learnt neutral class (``neutral``, P(neutral)) also a text
    that is not negative and reads as taking no side (P(neutral) >= 0.5)."""
    if negative >= 0.5 + neutral_band:
        return "negative"
    if negative <= 0.5 - neutral_band and (neutral is None or neutral < 0.5):
        return "positive"
    return "neutral"


class Classifier(Protocol):
    """Scores a batch of texts. Synchronous and CPU-bound: callers run it off the event loop."""

    name: str

    def classify(self, texts: Sequence[str]) -> list[Scores]: ...
