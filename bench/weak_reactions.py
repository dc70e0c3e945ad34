"""Weak labels from the emoticons in real reactions: do they teach a reader of reactions?

    python bench/weak_reactions.py [--shared ../shared/data] [--per-class 60000]

Issue 21 asks whether the unlabelled cascades in ``weibo_cascades.jsonl.gz`` can teach the
model how people react. Over a million reposts carry their own words; many carry an emoticon
too. This measures the simplest use of them, before any of it goes into ``sentinel train``:

* every repost's own words (up to the first ``//@``) in every cascade that the hand-labelled
  crisis-reaction set leaves to training (``crisis_reactions.held_out_events`` and
  ``held_out_texts`` are skipped: the set measures reading, not memory);
* labelled by its emoticons (``sentinel.nlp.reactions.weak_label``): more of its negative
  list than of its positive list is negative, the
  other way round positive, a tie or none is left out; the emoticons are then stripped, so
  the text has to carry what was learnt (and texts under two characters are dropped);
* balanced by down-sampling the larger class (seeded);
* char 1-3-gram TF-IDF + logistic regression (``TfidfBaseline``) trained on (a) the train
  split of ``../shared/data`` as the crisis-reaction bench does, (b) the weak labels only,
  (c) both; each scored on the crisis-reaction set (negative vs not, P >= 0.5), reading the
  reaction as it is and with its emoticons stripped, and on the shared Weibo test split.

The emoticon lists are the bracketed names whose ordinary use reads one way (anger, disgust,
tears, mourning candles, shock; laughter, love, applause). "[哈哈]" under a scandal is often
mockery, which the guideline counts as negative: one reason a weak label is weak.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import crisis_reactions  # noqa: E402

from sentinel.nlp.baseline import TfidfBaseline  # noqa: E402
from sentinel.nlp.data import load_corpora, split_of  # noqa: E402
from sentinel.nlp.reactions import weak_label  # noqa: E402
from sentinel.nlp.text import normalize, strip_emoticons  # noqa: E402
from sentinel.risk.text import own_words  # noqa: E402


def weak_labels(cascades: Path, per_class: int, seed: int = 0) -> list[tuple[str, int]]:
    """(stripped own words, 1 = negative) for reposts whose emoticons lean one way, balanced."""
    skip_events = crisis_reactions.held_out_events()
    skip_texts = crisis_reactions.held_out_texts()
    rows: list[tuple[str, int]] = []
    for event, text in _reactions(cascades):
        if event in skip_events:
            continue
        words = own_words(text) or ""
        label = weak_label(words)
        if label is None:
            continue
        stripped = strip_emoticons(words)
        if len(stripped) < 2 or normalize(stripped) in skip_texts or normalize(words) in skip_texts:
            continue
        rows.append((stripped, label))
    rng = random.Random(seed)
    rng.shuffle(rows)
    negatives = [r for r in rows if r[1]]
    positives = [r for r in rows if not r[1]]
    k = min(len(negatives), len(positives), per_class)
    print(f"weak labels: {len(negatives):,} negative, {len(positives):,} positive; {k:,} of each kept")
    return negatives[:k] + positives[:k]


def _reactions(path: Path) -> Iterator[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            for repost in d["reposts"]:
                yield d["event"], repost[2]


def accuracy(model: TfidfBaseline, texts: Sequence[str], negative: np.ndarray) -> float:
    return float(((model.predict_proba(texts) >= 0.5) == negative).mean())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--per-class", type=int, default=60_000)
    args = parser.parse_args(argv)
    shared = Path(args.shared)
    weak = weak_labels(shared / "weibo_cascades.jsonl.gz", args.per_class)
    corpora = load_corpora(shared)
    train = [e for e in corpora if split_of(e.text) == "train"]
    weibo_test = [e for e in corpora if split_of(e.text) == "test" and "weibo" in e.corpus]
    gold = crisis_reactions.load(crisis_reactions.SET)
    reactions = [r["text"] for r in gold]
    is_negative = np.array([r["label"] == "negative" for r in gold])
    weibo_negative = np.array([e.negative for e in weibo_test], dtype=bool)
    trainings = {
        "shared train split": ([e.text for e in train], [e.negative for e in train]),
        "weak labels only": ([t for t, _ in weak], [y for _, y in weak]),
        "shared + weak": (
            [e.text for e in train] + [t for t, _ in weak],
            [e.negative for e in train] + [y for _, y in weak],
        ),
    }
    print(
        "| TF-IDF + LR trained on | rows | crisis reactions | reactions, emoticons stripped | shared Weibo test |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, (texts, labels) in trainings.items():
        model = TfidfBaseline().fit(texts, labels)
        print(
            f"| {name} | {len(texts):,} | {accuracy(model, reactions, is_negative):.3f} "
            f"| {accuracy(model, [strip_emoticons(t) for t in reactions], is_negative):.3f} "
            f"| {accuracy(model, [e.text for e in weibo_test], weibo_negative):.3f} |"
        )
    print(
        f"(crisis reactions: {len(gold)}, majority {max(is_negative.mean(), 1 - is_negative.mean()):.3f}; Weibo test: {len(weibo_test):,})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
