"""How the model reads negation: the two hand-written probes, beside TF-IDF + LR.

    python bench/negation.py                  # the shipped model
    python bench/negation.py --model DIR      # another one (e.g. a `sentinel train --out DIR`)

`tests/data/negation_probe.jsonl` (22 lines that deny a fault and are positive, 22 that deny
a virtue and are negative) and `negation_probe2.jsonl` (40 + 40, written later by a second
person who saw neither the first probe nor the training data): how many of each kind are read
right at P(negative) 0.5. The TF-IDF + LR reference is trained on the shared corpora's train
split (docs/model.md, *Negation*); with ``--no-baseline`` it is skipped (it takes ~30 s).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sentinel.nlp.data import load_corpora, load_jsonl_examples, split_of  # noqa: E402
from sentinel.nlp.transformer import TransformerClassifier  # noqa: E402

DATA = ROOT / "tests" / "data"


def probes() -> dict[str, list[tuple[str, bool]]]:
    """Per probe, (text, negative) pairs: the negated faults first, then the negated virtues."""
    return {
        name: [(e.text, bool(e.negative)) for e in load_jsonl_examples(DATA / f"{name}.jsonl")]
        for name in ("negation_probe", "negation_probe2")
    }


def tally(pairs: list[tuple[str, bool]], negative: list[float]) -> dict[str, str]:
    right = [(p >= 0.5) == gold for (_, gold), p in zip(pairs, negative, strict=True)]
    faults = [ok for (_, gold), ok in zip(pairs, right, strict=True) if not gold]
    virtues = [ok for (_, gold), ok in zip(pairs, right, strict=True) if gold]
    return {
        "negated faults read positive": f"{sum(faults)}/{len(faults)}",
        "negated virtues read negative": f"{sum(virtues)}/{len(virtues)}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    sets = probes()
    clf = TransformerClassifier(args.model, quantize=True)
    report: dict[str, object] = {
        "model": {
            name: tally(pairs, [s.negative for s in clf.classify([t for t, _ in pairs])])
            for name, pairs in sets.items()
        }
    }
    if not args.no_baseline:
        from sentinel.nlp.baseline import TfidfBaseline

        train = [e for e in load_corpora(args.data) if split_of(e.text) == "train"]
        tfidf = TfidfBaseline().fit([e.text for e in train], [e.negative for e in train])
        report["tfidf"] = {
            name: tally(pairs, list(tfidf.predict_proba([t for t, _ in pairs])))
            for name, pairs in sets.items()
        }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
