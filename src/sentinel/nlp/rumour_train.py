"""Fit the rumour model (:mod:`sentinel.risk.rumour`) on the real Weibo cascades.

Each cascade is read as the engine reads a story: its original and its first
:data:`~sentinel.risk.rumour.REACTIONS` reactions with words of their own (in the order they
came); its label is CED's (later judged a rumour by Weibo's misinformation platform). Held
out of the fit: the real-cascade suite's cascades (:data:`HELD_OUT`) and any extra event
lists given.
A fifth of the rest, chosen by event id, is the validation split the report scores.
Needs the train extra (scikit-learn).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sentinel.nlp.reactions import Holdout
from sentinel.paths import REPO_ROOT
from sentinel.risk.rumour import NGRAMS, REACTIONS, RumourModel, document
from sentinel.risk.text import is_bare_repost, own_words
from sentinel.simulate.cascades import load_cascades

__all__ = ["HELD_OUT", "fit_rumour"]

# the real-cascade suite's cascades, both halves: the held-out half is never read, and the
# tuning half is left out so that tuning measures a model that never saw its crises (the
# crisis-reaction set's cascades may be read: that set scores the sentiment model)
HELD_OUT = (
    REPO_ROOT / "tests" / "data" / "realsuite_heldout_events.txt",
    REPO_ROOT / "tests" / "data" / "realsuite_tuning_events.txt",
)


def _docs(path: Path, holdout: Holdout) -> list[tuple[str, str, bool]]:
    out = []
    for c in load_cascades(path):
        if c.event in holdout.events:
            continue
        words = []
        for _, _, text in c.reposts:
            if not is_bare_repost(text):
                words.append(own_words(text))
                if len(words) == REACTIONS:
                    break
        out.append((c.event, document(str(c.original["text"]), words), c.rumor))
    return out


def _validation(event: str) -> bool:
    return hashlib.sha1(event.encode()).digest()[0] < 52  # ~a fifth, fixed by the event id


def fit_rumour(
    cascades: Path,
    out: Path,
    *,
    holdout: Iterable[Path] = HELD_OUT,
    max_features: int = 60_000,
    c: float = 4.0,
) -> dict[str, Any]:
    """Fit, score the validation split, refit on everything allowed and write ``out``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    docs = _docs(cascades, Holdout.load(holdout))

    def fit(rows: list[tuple[str, str, bool]]) -> tuple[Any, Any]:
        vec = TfidfVectorizer(
            analyzer="char", ngram_range=NGRAMS, min_df=3, sublinear_tf=True, max_features=max_features
        )
        x = vec.fit_transform([d for _, d, _ in rows])
        clf = LogisticRegression(C=c, max_iter=3000).fit(x, [y for _, _, y in rows])
        return vec, clf

    train = [r for r in docs if not _validation(r[0])]
    val = [r for r in docs if _validation(r[0])]
    vec, clf = fit(train)
    p = clf.predict_proba(vec.transform([d for _, d, _ in val]))[:, 1]
    y = [r[2] for r in val]
    report = {
        "cascades": len(docs),
        "rumours": sum(r[2] for r in docs),
        "validation": len(val),
        "validation_auc": round(float(roc_auc_score(y, p)), 4),
        "validation_accuracy": round(
            float(sum((pi >= 0.5) == yi for pi, yi in zip(p, y, strict=True)) / len(y)), 4
        ),
        "max_features": max_features,
        "C": c,
    }
    vec, clf = fit(docs)  # the shipped model reads every cascade training may read
    weights = {gram: (float(vec.idf_[i]), float(clf.coef_[0, i])) for gram, i in vec.vocabulary_.items()}
    RumourModel(weights, float(clf.intercept_[0])).save(out, {"report": report})
    return report
