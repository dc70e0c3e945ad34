"""Accuracy by text length on the held-out test split: what reading the whole post buys.

The encoder reads a post's first 127 characters; since 2026-12-07 the n-gram and emoticon
bags read up to ``bag_chars`` (docs/model.md, "Long texts"). This prints, per corpus and for
texts within and beyond the encoder's window, the bundled model with its bags cut to the
encoder's window (the reading before), with whole-text bags (now), and char 1-3-gram
TF-IDF + LR trained on the train split (which always read everything)::

    python bench/long_texts.py [--model models/default] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sentinel.nlp.baseline import TfidfBaseline  # noqa: E402
from sentinel.nlp.data import Example, load_corpora, split_of  # noqa: E402
from sentinel.nlp.transformer import TransformerClassifier  # noqa: E402


def accuracy(probs: list[float], rows: list[Example]) -> float:
    return sum((p > 0.5) == bool(e.negative) for p, e in zip(probs, rows, strict=True)) / max(1, len(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(REPO / "models" / "default"))
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = ap.parse_args()
    examples = load_corpora(args.data)
    train = [e for e in examples if split_of(e.text) == "train"]
    test = [e for e in examples if split_of(e.text) == "test"]
    baseline = TfidfBaseline().fit([e.text for e in train], [e.negative for e in train])
    clf = TransformerClassifier(args.model, threads=2)
    window = clf.max_length - 1  # characters the encoder reads ([CLS] takes one id)
    whole_bag = clf.bag_length
    print(f"encoder window {window} characters; bags read up to {whole_bag - 1}\n")
    print("| test split | texts | bags cut to the window (before) | whole-text bags (now) | TF-IDF + LR |")
    print("|---|---:|---:|---:|---:|")
    for corpus in sorted({e.corpus for e in test}):
        rows = [e for e in test if e.corpus == corpus]
        texts = [e.text for e in rows]
        clf.bag_length = clf.max_length
        before = [s.negative for s in clf.classify(texts)]
        clf.bag_length = whole_bag
        now = [s.negative for s in clf.classify(texts)]
        tfidf = [float(p) for p in baseline.predict_proba(texts)]
        for name, keep in (
            (f"≤ {window} characters", lambda e: len(e.text) <= window),
            ("longer", lambda e: len(e.text) > window),
            ("all", lambda e: True),
        ):
            idx = [i for i, e in enumerate(rows) if keep(e)]
            sub = [rows[i] for i in idx]
            cells = [accuracy([p[i] for i in idx], sub) for p in (before, now, tfidf)]
            print(f"| {corpus}, {name} | {len(idx):,} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
