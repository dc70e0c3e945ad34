"""Training corpora: loading, deterministic splits and weak topic labels.

Splits are decided by a hash of the normalised text, not by a shuffled index, so that the
same text (the corpora hold near-duplicates and reposts) always lands on the same side and
the held-out test split never leaks into training, whatever the seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sentinel.nlp.taxonomy import Taxonomy
from sentinel.nlp.text import normalize
from sentinel.paths import REPO_ROOT

__all__ = ["NEGATION_TRAIN", "Example", "load_corpora", "load_jsonl_examples", "split_of", "tag_topics"]

# hand-written reviews that praise by denying a fault or blame by denying a virtue (the
# shipped recipe reads them: docs/model.md, *Negation*)
NEGATION_TRAIN = REPO_ROOT / "tests" / "data" / "negation_train.jsonl"

Split = Literal["train", "val", "test"]
LABELS = {"negative": 1, "positive": 0, "neg": 1, "pos": 0, "1": 1, "0": 0}

TEST_PERCENT = 10
VAL_PERCENT = 5


@dataclass(slots=True)
class Example:
    text: str
    negative: int  # 1 = negative, 0 = positive
    corpus: str
    topics: list[str] = field(default_factory=list)
    target: float | None = None  # a soft training target for P(negative) instead of the label
    neutral: bool = False  # labelled neutral (hand-labelled reactions): trains the neutral head


def split_of(text: str) -> Split:
    """10 % test, 5 % validation, 85 % train, by a stable hash of the normalised text."""
    bucket = int(hashlib.md5(normalize(text).encode("utf-8")).hexdigest()[:8], 16) % 100
    if bucket < TEST_PERCENT:
        return "test"
    if bucket < TEST_PERCENT + VAL_PERCENT:
        return "val"
    return "train"


def parse_label(value: object) -> int:
    key = str(value).strip().lower()
    if key not in LABELS:
        raise ValueError(f"unknown label {value!r} (use 'negative' or 'positive')")
    return LABELS[key]


def _read_jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_jsonl_examples(path: str | Path, corpus: str | None = None) -> list[Example]:
    """``{"text", "label"}`` rows of one file; rows with an empty text are skipped."""
    path = Path(path)
    name = corpus or path.stem
    out = []
    for row in _read_jsonl(path):
        text = str(row.get("text") or "").lstrip("\ufeff").strip()
        if text:
            out.append(Example(text=text, negative=parse_label(row.get("label")), corpus=name))
    return out


def load_corpora(data_dir: str | Path, taxonomy: Taxonomy | None = None) -> list[Example]:
    """Every ``*.jsonl`` in ``data_dir``, each tagged with its file stem as corpus name."""
    data_dir = Path(data_dir)
    files = sorted(data_dir.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no *.jsonl training files in {data_dir}")
    examples = [ex for f in files for ex in load_jsonl_examples(f)]
    return examples if taxonomy is None else tag_topics(examples, taxonomy)


def tag_topics(examples: list[Example], taxonomy: Taxonomy) -> list[Example]:
    """``examples``, each given the topics whose seed terms it contains (weak topic labels)."""
    for ex in examples:
        ex.topics = list(taxonomy.match(ex.text))
    return examples
