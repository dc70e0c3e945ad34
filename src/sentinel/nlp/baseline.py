"""Character 1-3-gram TF-IDF + logistic regression: the bar the transformer has to clear.

Also used as the distillation teacher: its out-of-fold probabilities on the training split
give the student soft targets that carry the n-gram evidence a small encoder learns slowly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from sentinel.nlp.text import normalize

__all__ = ["TfidfBaseline", "out_of_fold_probs"]


class TfidfBaseline:
    def __init__(self, c: float = 4.0, max_features: int = 400_000) -> None:
        self.pipeline: Pipeline = make_pipeline(
            TfidfVectorizer(
                analyzer="char",
                ngram_range=(1, 3),
                min_df=2,
                sublinear_tf=True,
                max_features=max_features,
                preprocessor=normalize,
            ),
            LogisticRegression(C=c, max_iter=1000),
        )

    def fit(self, texts: Sequence[str], negative: Sequence[int] | np.ndarray) -> TfidfBaseline:
        self.pipeline.fit(list(texts), np.asarray(negative))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """P(negative) per text."""
        return np.asarray(self.pipeline.predict_proba(list(texts))[:, 1])


def out_of_fold_probs(
    texts: Sequence[str], negative: Sequence[int], folds: int = 3, seed: int = 0
) -> np.ndarray:
    """Teacher probabilities for each training text from a model that never saw that text,
    so the soft targets are as (over)confident as on new data, not memorised."""
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, folds, size=len(texts))
    labels = np.asarray(negative)
    probs = np.zeros(len(texts), dtype=np.float32)
    texts = list(texts)
    for k in range(folds):
        train = np.flatnonzero(fold != k)
        held = np.flatnonzero(fold == k)
        model = TfidfBaseline().fit([texts[i] for i in train], labels[train])
        probs[held] = model.predict_proba([texts[i] for i in held])
    return probs
