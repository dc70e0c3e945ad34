"""A reaction read with the post it reacts to, as a crisis desk reads it.

The bundled model reads one text at a time and learnt most of what it knows from reviews and
emoticon-labelled Weibo posts: "[哈哈]" is cheerful, "注意了" a complaint. Under a scandal the
laugh is mockery, and a warning passed on is not anger. The **reaction reader** reads a
repost's or comment's own words the way the hand-labelled crisis reactions
(``tests/data/reaction_train.jsonl``, labelled under the crisis-reaction guideline) do:

* the words themselves: TF-IDF character 1-3-grams of the reaction, weighed by a logistic
  regression fitted on hand-labelled reactions (negative vs not);
* what the bundled model makes of them: the logits of its P(negative) and P(neutral);
* what they react to: the logit of the model's P(negative) of the reposted post;
* the crowd so far (:class:`Crowds`): how the model reads the last :data:`CROWD` worded
  reactions to the same post before this one -- their mean logit, the share it calls
  negative, and how many there were. "呵呵" after forty angry comments is mockery; after
  forty jokes it is a laugh. Only earlier reactions count, so a stream is read as it arrives.

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
from collections import OrderedDict, deque
from collections.abc import Hashable, Sequence
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
from sentinel.risk.text import is_bare_repost

if TYPE_CHECKING:
    from sentinel.nlp.base import Classifier

__all__ = [
    "CROWD",
    "FILENAME",
    "MIN_ROWS",
    "Crowds",
    "ReactionReader",
    "crowd_features",
    "features",
    "fit_reaction_reader",
    "readings",
]

FILENAME = "reactions.json"  # beside the model it reads with
KIND = "reaction-reader"
MIN_ROWS = 100  # labelled reactions beyond the model's own that a fit needs
CROWD = 100  # earlier worded reactions to the same post that the crowd features read
_CROWD_KEYS = ("crowd_mean", "crowd_negative", "crowd_size")
_EPS = 1e-4


def _logit(p: float | None) -> float:
    p = 0.5 if p is None else min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def features(own: float, neutral: float | None, context: float) -> tuple[float, float, float]:
    """The model's readings as the reader weighs them: logits of P(negative) of the reaction,
    its P(neutral) (0.5 from a model without a neutral class) and P(negative) of its post."""
    return _logit(own), _logit(neutral), _logit(context)


def crowd_features(crowd: Sequence[float]) -> tuple[float, float, float]:
    """The crowd as the reader weighs it, from the model's P(negative) of each earlier worded
    reaction to the same post (the last :data:`CROWD` of them count): their mean logit, the
    share at 0.5 or more, and how many of :data:`CROWD` there were. No crowd reads (0, 0.5, 0)."""
    last = list(crowd)[-CROWD:]
    if not last:
        return 0.0, 0.5, 0.0
    return (
        sum(_logit(p) for p in last) / len(last),
        sum(p >= 0.5 for p in last) / len(last),
        len(last) / CROWD,
    )


def readings(
    clf: Classifier,
    texts: Sequence[str],
    contexts: Sequence[str],
    crowds: Sequence[Sequence[str]] | None = None,
) -> list[tuple[float, ...]]:
    """:func:`features` and :func:`crowd_features` of each reaction in ``texts`` under the post
    in ``contexts``, after the earlier reactions to it in ``crowds`` (texts; none if omitted),
    the model reading every distinct post and crowd text once."""
    if len(texts) != len(contexts):
        raise ValueError(f"{len(texts)} reactions but {len(contexts)} contexts")
    if crowds is not None and len(crowds) != len(texts):
        raise ValueError(f"{len(texts)} reactions but {len(crowds)} crowds")
    distinct = sorted(set(contexts) | {t for crowd in crowds or () for t in crowd})
    scored = clf.classify([*texts, *distinct])
    negative = {c: s.negative for c, s in zip(distinct, scored[len(texts) :], strict=True)}
    return [
        (
            *features(s.negative, s.neutral, negative[c]),
            *crowd_features([negative[t] for t in (crowds[i] if crowds is not None else ())]),
        )
        for i, (s, c) in enumerate(zip(scored[: len(texts)], contexts, strict=True))
    ]


class Crowds:
    """The crowd of each post as a stream brings its reactions: the model's P(negative) of the
    last :data:`CROWD` worded reactions to it (a bare repost says nothing and is not counted),
    for the ``posts`` most recently reacted to."""

    def __init__(self, posts: int = 10_000):
        self.posts = posts
        self._seen: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def of(self, post: Hashable) -> Sequence[float]:
        """The crowd so far of ``post`` (oldest first)."""
        return self._seen.get(post, ())

    def add(self, post: Hashable, text: str, negative: float) -> None:
        """Count a reaction to ``post`` that the model reads at ``negative``."""
        if is_bare_repost(text):
            return
        crowd = self._seen.pop(post, None) or deque(maxlen=CROWD)
        crowd.append(negative)
        self._seen[post] = crowd
        if len(self._seen) > self.posts:
            self._seen.popitem(last=False)


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
        crowd: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ):
        self.weights = weights
        self.bias = bias
        self.coef = (own, neutral, context, *crowd)
        self.ngrams = ngrams

    def negative(
        self,
        text: str,
        *,
        own: float,
        neutral: float | None,
        context: float,
        crowd: Sequence[float] = (),
    ) -> float:
        """P(negative) of reaction ``text`` whose words the model reads as ``own`` (and
        ``neutral``) under a post it reads as ``context`` (P(negative)), after earlier
        reactions to that post it reads as ``crowd`` (P(negative) each, oldest first)."""
        return self._probability(text, (*features(own, neutral, context), *crowd_features(crowd)))

    def read(
        self,
        clf: Classifier,
        texts: Sequence[str],
        contexts: Sequence[str],
        crowds: Sequence[Sequence[str]] | None = None,
    ) -> list[float]:
        """P(negative) of each reaction in ``texts`` read under the post in ``contexts``, after
        the earlier reactions to it in ``crowds`` (texts, oldest first; none if omitted)."""
        feats = readings(clf, texts, contexts, crowds)
        return [self._probability(t, f) for t, f in zip(texts, feats, strict=True)]

    def _probability(self, text: str, feats: Sequence[float]) -> float:
        z = self.bias + tfidf_dot(text, self.weights, self.ngrams)
        z += sum(c * f for c, f in zip(self.coef, feats, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0

    def save(self, path: Path, extra: dict[str, object] | None = None) -> None:
        body = {
            "kind": KIND,
            "ngrams": list(self.ngrams),
            "bias": self.bias,
            "coef": dict(zip(("own", "neutral", "context", *_CROWD_KEYS), self.coef, strict=True)),
            **(extra or {}),
            "weights": weights_json(self.weights),
        }
        write_model_file(path, body)

    @classmethod
    def load(cls, path: str | Path) -> ReactionReader:
        """Read ``reactions.json``; a clear ``ValueError`` when it is not one. A reader fitted
        before the crowd features (or without a cascades file) gives them no weight."""

        def parse(body: dict[str, Any]) -> ReactionReader:
            coef = body["coef"]
            own, neutral, context = (float(coef[k]) for k in ("own", "neutral", "context"))
            mean, negative, size = (float(coef.get(k, 0.0)) for k in _CROWD_KEYS)
            return cls(
                weights_of(body),
                float(body["bias"]),
                own,
                neutral,
                context,
                ngrams_of(body),
                crowd=(mean, negative, size),
            )

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
    crowds: Sequence[Sequence[str]] | None = None,
) -> tuple[ReactionReader, dict[str, Any]]:
    """Fit on ``rows`` (``{"text", "context", "label"}``) after the first ``skip`` (those the
    model trained on), each read after the earlier reactions of its cascade in ``crowds`` (one
    list of texts a row, all rows; :func:`sentinel.nlp.reactions.crowds_of`). Without crowds
    the crowd features get no weight. The report has a 5-fold cross-validated accuracy (folds
    by cascade) of the reader and of the model alone on the same rows. Needs scikit-learn."""
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
    fit_crowds = None if crowds is None else list(crowds)[skip:]
    dense = np.array(readings(clf, texts, contexts, fit_crowds))
    if fit_crowds is None:
        dense = dense[:, :3]

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
    own, neutral, context, *crowd = (float(v) for v in lr.coef_[0, n_words:])
    report = {
        "rows": len(fit_rows),
        "skipped": skip,
        "C": c,
        "crowd": fit_crowds is not None,
        "cv_accuracy": round(hits / len(fit_rows), 4),
        "model_alone": round(float(((dense[:, 0] >= 0) == y).mean()), 4),
    }
    mean, negative, size = crowd or (0.0, 0.0, 0.0)
    reader = ReactionReader(
        weights, float(lr.intercept_[0]), own, neutral, context, crowd=(mean, negative, size)
    )
    return reader, report
