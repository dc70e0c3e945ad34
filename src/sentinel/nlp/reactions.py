"""Real Weibo reactions for training: weak labels from their emoticons, in-domain text for
pretraining, and the cascades no training may read.

``../shared/data/weibo_cascades.jsonl.gz`` holds over a million real reposts and comments,
unlabelled. Two uses, both measured in docs/model.md:

* **weak labels**: a reaction whose emoticons lean one way (more of :data:`NEGATIVE` than of
  :data:`POSITIVE`, or the other way round) is labelled by them, then the emoticons are
  stripped so that the words have to carry it. Noisy in a known way: ``[哈哈]`` under a scandal
  is often mockery, which a crisis desk counts as negative.
* **pretraining text**: the reactions' own words for masked-character pretraining.

**Held out** (:class:`Holdout`): the cascades of the hand-labelled crisis-reaction set and
their near-copies, any reaction whose text equals one of that set's, the cascades of the
real-cascade suite's held-out half, and the texts that half's background is drawn from
(:func:`sentinel.simulate.cascades.suite_half`). The files live in ``tests/data/``.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentinel.nlp.data import Example
from sentinel.nlp.text import EMOTICON_RE, normalize, strip_emoticons
from sentinel.paths import REPO_ROOT
from sentinel.simulate.cascades import own_words, suite_half

__all__ = [
    "CASCADES_FILE",
    "CORPUS",
    "DEFAULT_HOLDOUT",
    "LABELLED_REACTIONS",
    "NEGATIVE",
    "POSITIVE",
    "Holdout",
    "crowds_of",
    "labelled_examples",
    "labelled_rows",
    "pretraining_texts",
    "reactions",
    "weak_examples",
]

CASCADES_FILE = "weibo_cascades.jsonl.gz"  # the cascades file's name in the shared data directory
CORPUS = "weibo_reactions"  # the corpus name of the weak-labelled reactions
LABELLED = "reactions_labelled"  # ... and of the hand-labelled ones (LABELLED_REACTIONS)
LABELLED_REACTIONS = REPO_ROOT / "tests" / "data" / "reaction_train.jsonl"  # the shipped recipe reads these

NEGATIVE = frozenset(
    "[怒] [抓狂] [泪] [衰] [鄙视] [吐] [生病] [弱] [哼] [失望] [伤心] [怒骂] [晕] [汗] [蜡烛] "
    "[悲伤] [可怜] [委屈] [黑线] [左哼哼] [右哼哼] [打脸] [闭嘴] [吃惊] [崩溃] [惊恐] [泪流满面]".split()
)
POSITIVE = frozenset(
    "[哈哈] [嘻嘻] [爱你] [心] [赞] [鼓掌] [给力] [good] [威武] [太开心] [笑cry] [哈哈哈] [偷笑] "
    "[可爱] [亲亲] [花心] [耶] [ok] [酷] [握手] [强] [笑哈哈] [害羞]".split()
)

# what the crisis-reaction guideline reads as neutral: questions, doubt, onlooking, passing it
# on, surprise alone (with `neutral`, "[吃惊]" counts here and not as negative)
NEUTRAL = frozenset("[思考] [围观] [疑问] [转发] [转] [话筒] [吃惊] [吃驚]".split())
NEUTRAL_TARGET = 0.4  # P(negative) a neutral reaction is trained towards: in the band, not negative

DEFAULT_HOLDOUT = tuple(
    REPO_ROOT / "tests" / "data" / name
    for name in (
        "crisis_reactions_cascades.txt",
        "crisis_reactions_near_cascades.txt",
        "crisis_reactions.jsonl",
        "realsuite_heldout_events.txt",
        "realsuite_person_events.txt",  # the person-read check's candidate crises
    )
)
BACKGROUND_MIN = 6  # own words this long can be background texts of the real-cascade suite


@dataclass(slots=True)
class Holdout:
    """What training must not read: cascades by event id, reactions by normalised text, and
    (``suite_background``) the real-cascade suite's held-out background texts."""

    events: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    suite_background: bool = True

    @classmethod
    def load(cls, paths: Iterable[Path]) -> Holdout:
        """``*.txt``: one event id a line; ``*.jsonl``: rows whose ``text`` is held out."""
        out = cls()
        for path in paths:
            lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
            if Path(path).suffix == ".jsonl":
                out.texts |= {normalize(json.loads(line)["text"]) for line in lines if line}
            else:
                out.events |= {line for line in lines if line}
        return out

    def keeps(self, words: str) -> bool:
        """Whether a reaction's own words, from a cascade not held out, may be read."""
        if self.suite_background and len(words) >= BACKGROUND_MIN and suite_half(words) == 1:
            return False
        return normalize(words) not in self.texts


def reactions(path: Path, holdout: Holdout) -> list[str]:
    """Own words of every reaction in the cascades file that training may read, in file order
    (read once, for :func:`weak_examples` and :func:`pretraining_texts` alike)."""
    return list(_read(path, holdout))


def _read(path: Path, holdout: Holdout) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            cascade = json.loads(line)
            if str(cascade["event"]) in holdout.events:
                continue
            for repost in cascade["reposts"]:
                words = own_words(str(repost[2]))
                if words and holdout.keeps(words):
                    yield words


def weak_label(words: str, *, neutral: bool = False) -> float | None:
    """1 when the emoticons lean negative, 0 when positive, None for a tie or none; with
    ``neutral``, :data:`NEUTRAL_TARGET` when only :data:`NEUTRAL` emoticons are there."""
    emoticons = EMOTICON_RE.findall(words)
    neg = sum(e in NEGATIVE and not (neutral and e in NEUTRAL) for e in emoticons)
    pos = sum(e in POSITIVE for e in emoticons)
    if neg != pos:
        return float(neg > pos)
    if neutral and neg == 0 and any(e in NEUTRAL for e in emoticons):
        return NEUTRAL_TARGET
    return None


def weak_examples(
    texts: Iterable[str], holdout: Holdout, per_class: int, seed: int = 0, *, neutral: int = 0
) -> list[Example]:
    """Reactions labelled by their emoticons, emoticons stripped (at least 2 characters left),
    one copy of each text, the same number of each class (seeded down-sampling); and up to
    ``neutral`` neutral ones (``target`` :data:`NEUTRAL_TARGET`). ``texts``: :func:`reactions`;
    ``holdout`` also drops a reaction whose text, stripped, is a held-out one."""
    rows: dict[str, float] = {}
    for words in texts:
        label = weak_label(words, neutral=neutral > 0)
        if label is None:
            continue
        text = strip_emoticons(words)
        if len(text) >= 2 and normalize(text) not in holdout.texts:
            rows.setdefault(text, label)
    rng = random.Random(seed)
    items = sorted(rows.items())
    rng.shuffle(items)
    negatives = [t for t, y in items if y == 1.0]
    positives = [t for t, y in items if y == 0.0]
    neutrals = [t for t, y in items if y == NEUTRAL_TARGET]
    k = min(len(negatives), len(positives), per_class)
    return (
        [Example(text=t, negative=1, corpus=CORPUS) for t in negatives[:k]]
        + [Example(text=t, negative=0, corpus=CORPUS) for t in positives[:k]]
        + [Example(text=t, negative=0, corpus=CORPUS, target=NEUTRAL_TARGET) for t in neutrals[:neutral]]
    )


def pretraining_texts(texts: Iterable[str], limit: int, seed: int = 0) -> list[str]:
    """Up to ``limit`` distinct reactions (``texts``: :func:`reactions`) with at least 2
    characters, as written (emoticons kept)."""
    seen = {words for words in texts if len(words) >= 2}
    texts = sorted(seen)
    random.Random(seed).shuffle(texts)
    return texts[:limit]


_LABELS = ("negative", "neutral", "positive")


def labelled_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a hand-labelled reactions file (``{"event", "text", "context", "label"}`` a
    line, label negative / neutral / positive); a ValueError names the first line that is not one."""
    return [row for _, row in _numbered_rows(path)]


def _numbered_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # split on newlines only: a text may hold U+2028, which str.splitlines() also splits on
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["text"] = str(row["text"])
            if row["label"] not in _LABELS:
                raise KeyError(row["label"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a labelled reaction ({exc})") from None
        yield n, row


def crowds_of(rows: Sequence[dict[str, Any]], cascades: Path) -> list[list[str]]:
    """The crowd each labelled reaction in ``rows`` was written after: the last
    :data:`~sentinel.nlp.reaction_reader.CROWD` worded reactions (texts, oldest first; bare
    reposts left out) before the first reaction of its cascade (``event``) with its text, in
    the cascades file. Empty for a row whose cascade or text the file does not have."""
    from sentinel.nlp.reaction_reader import CROWD
    from sentinel.risk.text import is_bare_repost

    wanted: dict[str, set[str]] = {}
    for row in rows:
        wanted.setdefault(str(row.get("event")), set()).add(row["text"])
    before: dict[tuple[str, str], list[str]] = {}
    with gzip.open(cascades, "rt", encoding="utf-8") as fh:
        for line in fh:
            cascade = json.loads(line)
            event = str(cascade["event"])
            if event not in wanted:
                continue
            crowd: list[str] = []
            for _, _, text in cascade["reposts"]:  # in time order
                if text in wanted[event] and (event, text) not in before:
                    before[(event, text)] = crowd[-CROWD:]
                if not is_bare_repost(text):
                    crowd.append(text)
    return [before.get((str(row.get("event")), row["text"]), []) for row in rows]


def labelled_examples(path: Path, holdout: Holdout, neutral: float = NEUTRAL_TARGET) -> list[Example]:
    """Hand-labelled reactions (:func:`labelled_rows`): negative 1, positive 0, neutral towards
    ``neutral``, as ``target``. A row from a held-out cascade, or whose text is a held-out one,
    is refused: the file would leak into the measurements that exclusion protects."""
    target = {"negative": 1.0, "positive": 0.0, "neutral": neutral}
    out = []
    for n, row in _numbered_rows(path):
        text, label = row["text"], target[row["label"]]
        if row.get("event") in holdout.events or normalize(text) in holdout.texts:
            raise ValueError(f"{path}:{n}: held out (event {row.get('event')}): no training may read it")
        out.append(
            Example(
                text=text,
                negative=int(label == 1.0),
                corpus=LABELLED,
                # a target even for the polar ones: distillation then leaves them at their
                # label (the TF-IDF teacher reads reactions the way the review corpora do)
                target=label,
                neutral=row["label"] == "neutral",
            )
        )
    return out
