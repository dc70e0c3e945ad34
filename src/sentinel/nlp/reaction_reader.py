"""A reaction read with the post it reacts to, as a crisis desk reads it.

The bundled model reads one text at a time and learnt most of what it knows from reviews and
emoticon-labelled Weibo posts: "[哈哈]" is cheerful, "注意了" a complaint. Under a scandal the
laugh is mockery, and a warning passed on is not anger. The **reaction reader** reads a
repost's or comment's own words the way the hand-labelled crisis reactions
(``tests/data/reaction_train.jsonl``, labelled under the crisis-reaction guideline) do:

* the words themselves: TF-IDF character 1-3-grams of the reaction, weighed by a logistic
  regression fitted on hand-labelled reactions (negative vs not);
* what the bundled model makes of them: the logits of its P(negative) and P(neutral);
* what they react to: the logit of the model's P(negative) of the reposted post.

It is fitted by ``sentinel train-reactions`` on the labelled reactions the model did *not*
train on (the rows after its ``labelled_limit``: a model's reading of its own training rows
is too sure to weigh), and stored beside the model as ``reactions.json``. Scoring is plain
Python (:func:`sentinel.risk.rumour.tfidf_dot`): no scikit-learn at run time.

A reaction with no words of its own (a bare "转发微博") is read as the guideline reads it:
by its words, which say nothing. What a bare repost *spreads* is another question, answered by
:func:`sentinel.risk.context.in_context`.

>>> r = ReactionReader({"哈": (1.0, -1.0)}, bias=0.0, own=1.0, neutral=0.0, context=1.0)
>>> r.negative("哈哈", own=0.5, neutral=0.5, context=0.5) < 0.5
True
>>> r.negative("哈哈", own=0.5, neutral=0.5, context=0.99) > 0.5
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinel.risk.rumour import (
    NGRAMS,
    ngrams_of,
    read_model_file,
    tfidf_dot,
    weights_json,
    weights_of,
    write_model_file,
)

if TYPE_CHECKING:
    from sentinel.nlp.base import Classifier

__all__ = ["FILENAME", "MIN_ROWS", "ReactionReader", "features", "fit_reaction_reader", "readings"]

FILENAME = "reactions.json"  # beside the model it reads with
KIND = "reaction-reader"
MIN_ROWS = 100  # labelled reactions beyond the model's own that a fit needs
_EPS = 1e-4


def _logit(p: float | None) -> float:
    p = 0.5 if p is None else min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def features(own: float, neutral: float | None, context: float) -> tuple[float, float, float]:
    """The model's readings as the reader weighs them: logits of P(negative) of the reaction,
    its P(neutral) (0.5 from a model without a neutral class) and P(negative) of its post."""
    return _logit(own), _logit(neutral), _logit(context)


def readings(
    clf: Classifier, texts: Sequence[str], contexts: Sequence[str]
) -> list[tuple[float, float, float]]:
    """:func:`features` of each reaction in ``texts`` under the post in ``contexts``, the model
    reading every distinct post once."""
    if len(texts) != len(contexts):
        raise ValueError(f"{len(texts)} reactions but {len(contexts)} contexts")
    distinct = sorted(set(contexts))
    scored = clf.classify([*texts, *distinct])
    of_context = {c: s.negative for c, s in zip(distinct, scored[len(texts) :], strict=True)}
    return [
        features(s.negative, s.neutral, of_context[c])
        for s, c in zip(scored[: len(texts)], contexts, strict=True)
    ]


class ReactionReader:
    """``weights``: n-gram -> (idf, coefficient) of the reaction's words; ``own``,
    ``neutral``, ``context``: the coefficients of :func:`features`."""

    def __init__(
        self,
        weights: dict[str, tuple[float, float]],
        bias: float,
        own: float,
        neutral: float,
        context: float,
        ngrams: tuple[int, int] = NGRAMS,
    ):
        self.weights = weights
        self.bias = bias
        self.coef = (own, neutral, context)
        self.ngrams = ngrams

    def negative(self, text: str, *, own: float, neutral: float | None, context: float) -> float:
        """P(negative) of reaction ``text`` whose words the model reads as ``own`` (and
        ``neutral``) under a post it reads as ``context`` (P(negative))."""
        return self._probability(text, features(own, neutral, context))

    def read(self, clf: Classifier, texts: Sequence[str], contexts: Sequence[str]) -> list[float]:
        """P(negative) of each reaction in ``texts`` read under the post in ``contexts``."""
        return [self._probability(t, f) for t, f in zip(texts, readings(clf, texts, contexts), strict=True)]

    def _probability(self, text: str, feats: tuple[float, float, float]) -> float:
        z = self.bias + tfidf_dot(text, self.weights, self.ngrams)
        z += sum(c * f for c, f in zip(self.coef, feats, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0

    def save(self, path: Path, extra: dict[str, object] | None = None) -> None:
        body = {
            "kind": KIND,
            "ngrams": list(self.ngrams),
            "bias": self.bias,
            "coef": dict(zip(("own", "neutral", "context"), self.coef, strict=True)),
            **(extra or {}),
            "weights": weights_json(self.weights),
        }
        write_model_file(path, body)

    @classmethod
    def load(cls, path: str | Path) -> ReactionReader:
        """Read ``reactions.json``; a clear ``ValueError`` when it is not one."""

        def parse(body: dict[str, Any]) -> ReactionReader:
            coef = body["coef"]
            own, neutral, context = (float(coef[k]) for k in ("own", "neutral", "context"))
            return cls(weights_of(body), float(body["bias"]), own, neutral, context, ngrams_of(body))

        return read_model_file(path, KIND, "reaction reader", parse)

    @classmethod
    def beside(cls, model_dir: str | Path) -> ReactionReader | None:
        """The reader stored with a model, or None where the model has none."""
        path = Path(model_dir) / FILENAME
        return cls.load(path) if path.is_file() else None


def fit_reaction_reader(
    clf: Classifier,
    rows: Sequence[dict[str, Any]],
    *,
    skip: int,
    c: float = 4.0,
    min_df: int = 2,
) -> tuple[ReactionReader, dict[str, Any]]:
    """Fit on ``rows`` (``{"text", "context", "label"}``) after the first ``skip`` (those the
    model trained on); the report has a 5-fold cross-validated accuracy (folds by cascade)
    of the reader and of the model alone on the same rows. Needs scikit-learn."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    fit_rows = list(rows[skip:])
    if len(fit_rows) < MIN_ROWS:
        raise ValueError(
            f"{len(fit_rows)} labelled reactions beyond the model's first {skip}: the reader needs "
            "reactions the model did not train on (retrain it with a smaller --labelled-limit)"
        )
    texts = [str(r["text"]) for r in fit_rows]
    contexts = [str(r.get("context") or "") for r in fit_rows]
    y = np.array([r["label"] == "negative" for r in fit_rows])
    dense = np.array(readings(clf, texts, contexts))

    def fit(idx: Any) -> tuple[Any, Any]:
        vec = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, min_df=min_df, sublinear_tf=True)
        x = sp.hstack([vec.fit_transform([texts[i] for i in idx]), sp.csr_matrix(dense[idx])]).tocsr()
        return vec, LogisticRegression(C=c, max_iter=5000).fit(x, y[idx])

    hits = 0
    for a, b in GroupKFold(5).split(texts, y, [str(r.get("event", i)) for i, r in enumerate(fit_rows)]):
        vec, lr = fit(a)
        x = sp.hstack([vec.transform([texts[i] for i in b]), sp.csr_matrix(dense[b])]).tocsr()
        hits += int((lr.predict(x) == y[b]).sum())
    vec, lr = fit(np.arange(len(fit_rows)))
    n_words = len(vec.vocabulary_)
    weights = {g: (float(vec.idf_[i]), float(lr.coef_[0, i])) for g, i in vec.vocabulary_.items()}
    own, neutral, context = (float(v) for v in lr.coef_[0, n_words:])
    report = {
        "rows": len(fit_rows),
        "skipped": skip,
        "C": c,
        "cv_accuracy": round(hits / len(fit_rows), 4),
        "model_alone": round(float(((dense[:, 0] >= 0) == y).mean()), 4),
    }
    return ReactionReader(weights, float(lr.intercept_[0]), own, neutral, context), report
