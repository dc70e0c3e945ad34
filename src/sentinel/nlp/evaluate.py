"""Evaluation: a labelled JSONL file, the held-out split of the shared corpora, topic sets."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from sentinel.nlp.base import Classifier, sentiment_label
from sentinel.nlp.data import Example, load_corpora, split_of
from sentinel.nlp.metrics import binary_pr, sentiment_metrics
from sentinel.nlp.taxonomy import Taxonomy
from sentinel.nlp.text import EMOTICON_RE, strip_emoticons

__all__ = ["evaluate_examples", "evaluate_heldout", "evaluate_topics"]


def evaluate_examples(
    clf: Classifier, examples: Sequence[Example], *, neutral_band: float = 0.0, strip: bool = False
) -> dict[str, object]:
    """Accuracy, macro-F1, confusion matrix and throughput. With ``neutral_band`` 0 every
    post gets a binary decision at 0.5; with a band, neutral predictions count as errors."""
    texts = [strip_emoticons(e.text) if strip else e.text for e in examples]
    started = time.perf_counter()
    scores = clf.classify(texts)
    seconds = time.perf_counter() - started
    gold = ["negative" if e.negative else "positive" for e in examples]
    predicted = [sentiment_label(s.negative, neutral_band) for s in scores]
    report = sentiment_metrics(gold, predicted)
    report["seconds"] = round(seconds, 3)
    report["posts_per_s"] = round(len(texts) / seconds, 1) if seconds > 0 else None
    return report


def evaluate_heldout(
    clf: Classifier, data_dir: str | Path, *, baseline: bool = False
) -> dict[str, dict[str, float]]:
    """Accuracy per corpus on the test split (10 %, never used in training), plus every
    Weibo corpus again with ``[…]`` emoticons stripped. With ``baseline``, the same numbers
    for char 1-3-gram TF-IDF + logistic regression trained on the train split."""
    examples = load_corpora(data_dir)
    train = [e for e in examples if split_of(e.text) == "train"]
    test = [e for e in examples if split_of(e.text) == "test"]
    sets: dict[str, tuple[list[Example], bool]] = {}
    for corpus in sorted({e.corpus for e in test}):
        rows = [e for e in test if e.corpus == corpus]
        sets[corpus] = (rows, False)
        if "weibo" in corpus:
            sets[f"{corpus} (emoticons stripped)"] = ([e for e in rows if EMOTICON_RE.search(e.text)], True)
    results: dict[str, dict[str, float]] = {}
    teacher = None
    if baseline:
        from sentinel.nlp.baseline import TfidfBaseline

        teacher = TfidfBaseline().fit([e.text for e in train], [e.negative for e in train])
    for name, (rows, strip) in sets.items():
        report = evaluate_examples(clf, rows, strip=strip)
        entry = {"n": float(len(rows)), "accuracy": float(report["accuracy"])}  # type: ignore[arg-type]
        if teacher is not None:
            texts = [strip_emoticons(e.text) if strip else e.text for e in rows]
            probs = teacher.predict_proba(texts)
            entry["baseline_accuracy"] = float(
                sum((p > 0.5) == bool(e.negative) for p, e in zip(probs, rows, strict=True)) / len(rows)
            )
        results[name] = entry
    return results


def evaluate_topics(
    clf: Classifier, path: str | Path, threshold: float = 0.5, taxonomy: Taxonomy | None = None
) -> dict[str, dict[str, float]]:
    """Per-topic precision / recall on a hand-labelled ``{"text", "topics": [...]}`` file;
    with a taxonomy, also those of plain seed-term matching (``seed_precision``, …)."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    scores = clf.classify([r["text"] for r in rows])
    labels = sorted({t for s in scores for t in s.topics} | {t for r in rows for t in r["topics"]})
    out = {}
    for label in labels:
        gold = [label in r["topics"] for r in rows]
        predicted = [s.topics.get(label, 0.0) >= threshold for s in scores]
        out[label] = binary_pr(gold, predicted)
        if taxonomy is not None and label in taxonomy.ids:
            seeds = binary_pr(gold, [label in taxonomy.match(r["text"]) for r in rows])
            out[label].update({f"seed_{k}": v for k, v in seeds.items() if k != "support"})
    all_gold = [label in r["topics"] for r in rows for label in labels]
    all_pred = [s.topics.get(label, 0.0) >= threshold for s in scores for label in labels]
    out["micro"] = binary_pr(all_gold, all_pred)
    return out
