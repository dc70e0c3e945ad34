"""How much a story reads like a rumour: its original and first reactions, read together.

A PR crisis on Weibo is most often a rumour or a scandal spreading, and many real rumours read
calm to a sentiment model ("网传某品牌工厂用过期原料…" is a claim, not a complaint), so a
story's tone alone misses them. This model reads what a rumour looks like instead: the
claim's wording (网传, 求扩散, 据说, 紧急, numbers and places) and the reactions it draws (真的假的,
求证, 转起, 太可怕了).

It is a logistic regression over TF-IDF character 1-3-grams (sublinear term frequency, L2
norm), fitted by ``sentinel train-rumour`` on the real Weibo cascades of
``../shared/data/weibo_cascades.jsonl.gz``, each read as its original plus its first
:data:`REACTIONS` reactions with words of their own, labelled by whether Weibo's
misinformation platform later judged it a rumour. Scoring is plain Python over a dictionary
(``models/default/rumour.json``): no scikit-learn at run time, about 0.1 ms a story.

>>> m = RumourModel({"谣": (2.0, 3.0), "好": (1.0, -2.0)}, bias=-0.5)
>>> round(m.probability("谣言"), 2), round(m.probability("好好"), 2)
(0.92, 0.08)
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

__all__ = ["REACTIONS", "RumourModel", "document", "tfidf_dot"]

REACTIONS = 10  # reactions with words of their own read with the original (the fit's too)
NGRAMS = (1, 3)
_SPACES = re.compile(r"\s\s+")


def document(original: str, reactions: Iterable[str]) -> str:
    """What the model reads of a story: its original and its reactions' own words."""
    return " ".join([original, *reactions])


def tfidf_dot(text: str, weights: dict[str, tuple[float, float]], ngrams: tuple[int, int] = NGRAMS) -> float:
    """``text``'s TF-IDF vector dotted with a fitted model's coefficients, as scikit-learn's
    ``TfidfVectorizer(analyzer="char", sublinear_tf=True)`` (L2 norm) and a linear model
    compute it; ``weights``: n-gram -> (idf, coefficient). N-grams outside the vocabulary are
    ignored, in the norm too."""
    text = _SPACES.sub(" ", text.lower())
    lo, hi = ngrams
    counts: Counter[str] = Counter()
    for n in range(lo, hi + 1):
        counts.update(text[i : i + n] for i in range(len(text) - n + 1))
    dot = norm = 0.0
    for gram, tf in counts.items():
        w = weights.get(gram)
        if w is not None:
            x = (1.0 + math.log(tf)) * w[0]
            dot += x * w[1]
            norm += x * x
    return dot / math.sqrt(norm) if norm > 0 else 0.0


class RumourModel:
    """``weights``: n-gram -> (idf, coefficient); ``probability(text)`` as scikit-learn's
    ``TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)`` followed by
    ``LogisticRegression`` computes it (the fit's vocabulary: n-grams outside it are ignored,
    in the norm too)."""

    def __init__(
        self, weights: dict[str, tuple[float, float]], bias: float, ngrams: tuple[int, int] = NGRAMS
    ):
        self.weights = weights
        self.bias = bias
        self.ngrams = ngrams

    def probability(self, text: str) -> float:
        """P(rumour) of a story's document (:func:`document`)."""
        z = self.bias + tfidf_dot(text, self.weights, self.ngrams)
        return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "tfidf-char-logreg",
            "ngrams": list(self.ngrams),
            "reactions": REACTIONS,
            "bias": self.bias,
            "weights": {g: [round(i, 5), round(c, 5)] for g, (i, c) in sorted(self.weights.items())},
        }

    def save(self, path: Path, extra: dict[str, object] | None = None) -> None:
        body = {**self.to_json(), **(extra or {})}
        Path(path).write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> RumourModel:
        """Read ``rumour.json``; a clear ``ValueError`` when it is not one."""
        try:
            body = json.loads(Path(path).read_text(encoding="utf-8"))
            if body.get("kind") != "tfidf-char-logreg":
                raise ValueError(f"not a rumour model (kind {body.get('kind')!r})")
            weights = {str(g): (float(w[0]), float(w[1])) for g, w in body["weights"].items()}
            lo, hi = (int(x) for x in body["ngrams"])
            return cls(weights, float(body["bias"]), (lo, hi))
        except (OSError, KeyError, TypeError, IndexError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the rumour model ({exc})") from exc
