"""The hand-labelled crisis-reaction set (tests/data/crisis_reactions*): intact, and the
shipped model reads it better than always answering the majority class.

Needs only tests/data, never ../shared. How the set was drawn and labelled, and why its
cascades must stay out of all training: bench/crisis_reactions.py and docs/model.md.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from sentinel.nlp.base import sentiment_label
from sentinel.nlp.transformer import TransformerClassifier

DATA = Path(__file__).resolve().parents[1] / "data"
LABELS = {"negative", "neutral", "positive"}


def _rows(name: str) -> list[dict[str, str]]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _ids(name: str) -> list[str]:
    return [line.strip() for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_set_is_intact() -> None:
    rows = _rows("crisis_reactions.jsonl")
    assert len(rows) >= 600
    assert all(set(r) == {"event", "text", "context", "label"} for r in rows)
    assert all(r["label"] in LABELS for r in rows)
    assert all(r["text"].strip() and r["context"].strip() for r in rows)
    per_cascade = Counter(r["event"] for r in rows)
    assert len(per_cascade) >= 200 and max(per_cascade.values()) <= 3
    # one original per cascade
    assert len({(r["event"], r["context"]) for r in rows}) == len(per_cascade)
    # no text twice within one cascade
    assert len({(r["event"], r["text"]) for r in rows}) == len(rows)
    assert set(Counter(r["label"] for r in rows)) == LABELS


def test_cascade_lists_cover_the_set() -> None:
    events = {r["event"] for r in _rows("crisis_reactions.jsonl")}
    listed = _ids("crisis_reactions_cascades.txt")
    assert len(listed) == len(set(listed))
    assert set(listed) == events  # every sampled cascade is listed, and nothing else
    near = set(_ids("crisis_reactions_near_cascades.txt"))
    assert not near & events


def test_relabel_pass_is_a_subset() -> None:
    first = {(r["event"], r["text"]): r["label"] for r in _rows("crisis_reactions.jsonl")}
    second = _rows("crisis_reactions_relabel.jsonl")
    assert len(second) == 100
    assert all((r["event"], r["text"]) in first and r["label"] in LABELS for r in second)


def test_shipped_model_beats_the_majority_class(shipped: TransformerClassifier) -> None:
    rows = _rows("crisis_reactions.jsonl")
    gold = [r["label"] == "negative" for r in rows]
    majority = max(sum(gold), len(gold) - sum(gold)) / len(gold)
    scores = shipped.classify([r["text"] for r in rows])
    predicted = [s.negative >= 0.5 for s in scores]
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    # measured 0.776 against a majority rate of 0.535 (docs/model.md; 0.608 by the model before
    # it learnt from hand-labelled reactions): a retrain that loses them fails here
    assert accuracy > majority + 0.15, (accuracy, majority)
    # three classes with the learnt neutral class: measured 0.717 (the band alone: 0.538)
    labels = [sentiment_label(s.negative, 0.15, s.neutral) for s in scores]
    three = sum(r["label"] == label for r, label in zip(rows, labels, strict=True)) / len(rows)
    assert three > 0.65, three


def test_the_bench_loader_keeps_a_text_whole_across_a_line_separator(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import crisis_reactions

    path = tmp_path / "rows.jsonl"
    rows = [{"text": "第一行\u2028第二行", "label": "negative"}, {"text": "转发微博", "label": "neutral"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert crisis_reactions.load(path) == rows
