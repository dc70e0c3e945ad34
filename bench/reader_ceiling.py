"""How far can text alone go on Weibo posts whose emoticons were stripped?

    python bench/reader_ceiling.py [--model models/default] [--data tests/data/weibo_stripped_reader.jsonl]

The Weibo labels of the shared data were derived from emoticons. ``weibo_stripped_reader.jsonl``
holds 320 posts drawn at random from the held-out Weibo test split, emoticons removed, each
with its emoticon-derived ``label`` and a ``reader`` label given by a person who read only the
stripped text (tests/data/README.md). This script prints, on exactly those posts, how often
the reader, the model and the char 1-3-gram TF-IDF baseline (trained on the train split of
``../shared/data``, when present) agree with the emoticon labels, with a 95 % interval.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sentinel.nlp.data import load_corpora, parse_label, split_of  # noqa: E402
from sentinel.nlp.transformer import TransformerClassifier  # noqa: E402


def agreement(predicted: Sequence[int], gold: Sequence[int]) -> tuple[float, float]:
    """Share of equal labels and the half-width of its 95 % normal interval."""
    n = len(gold)
    share = sum(p == g for p, g in zip(predicted, gold, strict=True)) / n
    return share, 1.96 * math.sqrt(share * (1 - share) / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "default"))
    parser.add_argument("--data", default=str(REPO / "tests" / "data" / "weibo_stripped_reader.jsonl"))
    parser.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()

    rows = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line]
    texts = [r["text"] for r in rows]
    gold = [parse_label(r["label"]) for r in rows]
    results = {"reader (text only)": agreement([parse_label(r["reader"]) for r in rows], gold)}

    model = TransformerClassifier(args.model, quantize=True, threads=2)
    results["sentinel int8"] = agreement([int(s.negative > 0.5) for s in model.classify(texts)], gold)

    if Path(args.shared).is_dir():
        from sentinel.nlp.baseline import TfidfBaseline

        train = [e for e in load_corpora(args.shared) if split_of(e.text) == "train"]
        baseline = TfidfBaseline().fit([e.text for e in train], [e.negative for e in train])
        results["TF-IDF + LR"] = agreement([int(p > 0.5) for p in baseline.predict_proba(texts)], gold)

    print(f"{len(rows)} stripped Weibo posts, {sum(gold) / len(gold):.1%} negative by their emoticons\n")
    print("| reads the stripped text | agrees with the emoticon label | 95 % interval |")
    print("|---|---:|---:|")
    for name, (share, half) in results.items():
        print(f"| {name} | {share:.3f} | ±{half:.3f} |")


if __name__ == "__main__":
    main()
