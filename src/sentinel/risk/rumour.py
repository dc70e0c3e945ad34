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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "REACTIONS",
    "RumourModel",
    "document",
    "ngrams_of",
    "read_model_file",
    "tfidf_dot",
    "weights_json",
    "weights_of",
    "write_model_file",
]

T = TypeVar("T")

REACTIONS = 10  # reactions with words of their own read with the original (the fit's too)
KIND = "tfidf-char-logreg"
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
            "kind": KIND,
            "ngrams": list(self.ngrams),
            "reactions": REACTIONS,
            "bias": self.bias,
            "weights": weights_json(self.weights),
        }

    def save(self, path: Path, extra: dict[str, object] | None = None) -> None:
        write_model_file(path, {**self.to_json(), **(extra or {})})

    @classmethod
    def load(cls, path: str | Path) -> RumourModel:
        """Read ``rumour.json``; a clear ``ValueError`` when it is not one."""
        return read_model_file(
            path,
            KIND,
            "rumour model",
            lambda body: cls(weights_of(body), float(body["bias"]), ngrams_of(body)),
        )


def weights_json(weights: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    """A fitted TF-IDF model's weights as its file holds them (sorted, 5 decimals)."""
    return {g: [round(i, 5), round(c, 5)] for g, (i, c) in sorted(weights.items())}


def weights_of(body: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The weights of a model file's body (:func:`weights_json` read back)."""
    return {str(g): (float(w[0]), float(w[1])) for g, w in body["weights"].items()}


def ngrams_of(body: dict[str, Any]) -> tuple[int, int]:
    lo, hi = (int(x) for x in body["ngrams"])
    return lo, hi


def write_model_file(path: str | Path, body: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def read_model_file(path: str | Path, kind: str, what: str, parse: Callable[[dict[str, Any]], T]) -> T:
    """``parse`` of a model file's JSON body whose ``kind`` is ``kind``; a clear ``ValueError``
    naming ``what`` when the file is missing, another kind or malformed."""
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        if body.get("kind") != kind:
            raise ValueError(f"not a {what} (kind {body.get('kind')!r})")
        return parse(body)
    except (OSError, KeyError, TypeError, IndexError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the {what} ({exc})") from exc
