"""A persistent text -> classifier-scores cache for the detection benchmarks.

Scoring a suite of real-cascade streams with the bundled model takes minutes; tuning the
risk engine reruns it many times. The cache keeps each distinct text's ``P(negative)``, topic
scores and ``P(neutral)`` (models with a learnt neutral class) in a SQLite file (``.cache/bench-scores.sqlite`` by default, keyed by model
directory and text), so a rerun classifies only texts it has not seen.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from sentinel.nlp.base import Classifier, Scores

__all__ = ["ScoreCache"]

DEFAULT_PATH = Path(__file__).resolve().parent.parent / ".cache" / "bench-scores.sqlite"


class ScoreCache:
    """``scores(texts)`` -> one :class:`Scores` per text, classifying only the unseen ones."""

    def __init__(self, classifier: Classifier, model_key: str, path: Path = DEFAULT_PATH) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS scores (model TEXT, text TEXT, negative REAL, topics TEXT,"
            " neutral REAL, PRIMARY KEY (model, text))"
        )
        if "neutral" not in {row[1] for row in self.db.execute("PRAGMA table_info(scores)")}:
            self.db.execute("ALTER TABLE scores ADD COLUMN neutral REAL")  # a cache from before
        self.classifier = classifier
        self.model = model_key
        self.classified = 0

    def _lookup(self, texts: Iterable[str]) -> dict[str, Scores]:
        out: dict[str, Scores] = {}
        batch = list(texts)
        for i in range(0, len(batch), 500):
            part = batch[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT text, negative, topics, neutral FROM scores WHERE model = ? AND text IN ({marks})",
                [self.model, *part],
            )
            for text, neg, topics, neutral in rows:
                out[text] = Scores(neg, json.loads(topics), neutral)
        return out

    def scores(self, texts: Sequence[str], chunk: int = 4096) -> list[Scores]:
        distinct = list(dict.fromkeys(texts))
        known = self._lookup(distinct)
        missing = [t for t in distinct if t not in known]
        for i in range(0, len(missing), chunk):
            part = missing[i : i + chunk]
            got = self.classifier.classify(part)
            self.db.executemany(
                "INSERT OR REPLACE INTO scores (model, text, negative, topics, neutral) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        self.model,
                        t,
                        s.negative,
                        json.dumps({k: round(v, 4) for k, v in s.topics.items()}),
                        s.neutral,
                    )
                    for t, s in zip(part, got, strict=True)
                ],
            )
            self.db.commit()
            known.update(zip(part, got, strict=True))
            self.classified += len(part)
        return [known[t] for t in texts]
