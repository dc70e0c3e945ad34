"""How the model reads real reactions to a scandal: the hand-labelled crisis-reaction set.

    python bench/crisis_reactions.py [--shared ../shared/data] [--no-baseline] [--json out.json]

``tests/data/crisis_reactions.jsonl`` holds 688 reposts and comments from 230 rumour cascades
of ``weibo_cascades.jsonl.gz`` (Weibo's misinformation platform later judged each original a
rumour), one JSON object per line: ``{"event", "text", "context", "label"}`` -- the cascade,
the repost's text exactly as in the file, the original post it reacts to, and a
negative / neutral / positive label given by reading it under
``tests/data/crisis_reactions_GUIDELINE.md``. ``crisis_reactions_relabel.jsonl`` is a blind
second labelling of 100 of them by the same reader, ``crisis_reactions_second_reader.jsonl``
the same 100 labelled by a second reader (the guideline and the items only). This script
prints the set's composition, the agreement of each with the first labelling, and how (a) the bundled model (``sentinel.nlp.scoring.load_classifier`` on the
default ``ClassifierConfig``) and (b) char 1-3-gram TF-IDF + logistic regression
(``sentinel.nlp.baseline.TfidfBaseline``, trained on the train split of ``../shared/data``,
skipped when that is absent) read the set: negative-vs-not accuracy (P(negative) >= 0.5),
3-class accuracy (``sentiment_label`` with the configured neutral band), confusion matrices,
and the same when the model reads the reaction together with the post it reacts to.

**Kept out of all training.** Every cascade listed in
``tests/data/crisis_reactions_cascades.txt`` (the 230 sampled cascades: all their reposts,
not just the sampled ones, and their originals) must be excluded from every training, pre-
training, weak-labelling or self-training corpus; so must the cascades in
``crisis_reactions_near_cascades.txt`` (rumour cascades whose original is a copy or
rewording of a sampled original: the same rumour reposted by someone else), and any repost
elsewhere whose normalised text equals a sampled text (``held_out_texts``). Without that, the
set measures memory, not reading.

The set was drawn by ``draw`` below (``--draw FILE`` writes the unlabelled draw again):
rumour cascades with at least one non-empty repost, sorted by event id,
``random.Random(21).sample(…, 230)``; in each, up to 3 reposts in a random order from the
same generator, skipping empty texts and a text already taken from that cascade.
``--near FILE`` recomputes the near-copy list (``near_copies``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sentinel.config import ClassifierConfig  # noqa: E402
from sentinel.nlp.base import sentiment_label  # noqa: E402
from sentinel.nlp.text import normalize  # noqa: E402

DATA = REPO / "tests" / "data"
SET = DATA / "crisis_reactions.jsonl"
RELABEL = DATA / "crisis_reactions_relabel.jsonl"
SECOND_READER = DATA / "crisis_reactions_second_reader.jsonl"  # the same 100, another reader
CASCADES = DATA / "crisis_reactions_cascades.txt"
NEAR_CASCADES = DATA / "crisis_reactions_near_cascades.txt"
LABELS = ("negative", "neutral", "positive")

SEED = 21
N_CASCADES = 230
PER_CASCADE = 3

BARE = {"转发微博", "轉發微博", "转发", "转发博文", "repost", "转"}
CHAIN = re.compile(r"//@")
MENTION = re.compile(r"@[^\s@:：,，。!！?？]+")
EMOTICON = re.compile(r"\[[^\[\]]{1,8}\]")


def load(path: Path) -> list[dict[str, str]]:
    # JSON lines end at "\n" only: str.splitlines() would also cut a text at U+2028 / U+2029,
    # which JSON may carry raw inside a string (Weibo text does)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def held_out_events() -> set[str]:
    """Cascades no training may read: the sampled ones and their near-copies."""
    events = set()
    for path in (CASCADES, NEAR_CASCADES):
        events |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    return events


def held_out_texts() -> set[str]:
    """Normalised texts of the set: a repost elsewhere with one of these texts is held out too."""
    return {normalize(r["text"]) for r in load(SET)}


def draw(cascades_path: Path) -> list[dict[str, str]]:
    """The unlabelled draw the set was labelled from (see the module docstring)."""
    cascades = []
    with gzip.open(cascades_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["rumor"] and any(r[2].strip() for r in d["reposts"]):
                cascades.append(d)
    cascades.sort(key=lambda d: d["event"])
    rng = random.Random(SEED)
    rows = []
    for d in rng.sample(cascades, N_CASCADES):
        order = [i for i, r in enumerate(d["reposts"]) if r[2].strip()]
        rng.shuffle(order)
        taken: set[str] = set()
        for i in order:
            text = d["reposts"][i][2]
            if text in taken:
                continue
            taken.add(text)
            rows.append({"event": d["event"], "text": text, "context": d["original"]["text"]})
            if len(taken) == PER_CASCADE:
                break
    return rows


TRAIN_SEED = 2112
# (up to this many reactions a cascade, rows): six draws, each continuing the one before
TRAIN_DRAWS = ((2, 1000), (5, 2000), (10, 3000), (20, 6000), (40, 9000), (80, 18000))
# the rows of the first three draws; later ones leave out the person-read check's rumours
# (tests/data/realsuite_person_events.txt), chosen after those three from the same cascades
FIRST_DRAWS = 6000


def draw_training(cascades_path: Path) -> list[dict[str, str]]:
    """The unlabelled draw ``tests/data/reaction_train.jsonl`` was labelled from: rumour
    cascades that no held-out set touches (this set's cascades and near-copies, both halves of
    the real-cascade suite), in a ``random.Random(TRAIN_SEED)`` order, each cascade's non-empty
    reactions in a random order, skipping a text already taken from it, a text equal to one of
    this set's, and one the suite's held-out half could use as background
    (``sentinel.nlp.reactions.Holdout.keeps``). Rows 1-1,000 are the first two of each cascade
    in that order; rows 1,001-3,000 the next ones up to the fifth a cascade, rows 3,001-6,000
    up to the tenth, rows 6,001-11,960 up to the 20th (less the reactions of the two
    person-read rumours among them), rows 11,961-20,960 up to the 40th, rows 20,961-38,511 up
    to the 80th (18,000 less the person-read rumours' 449), each in the same order
    (``TRAIN_DRAWS``)."""
    from sentinel.nlp.reactions import DEFAULT_HOLDOUT, Holdout
    from sentinel.risk.text import own_words

    # the held-out lists as they stood at the draw (later lists, such as the person-read
    # check's, hold none of its cascades; adding them here would reshuffle the draw)
    holdout = Holdout.load([p for p in DEFAULT_HOLDOUT if p.name != "realsuite_person_events.txt"])
    skip = held_out_events() | holdout.events
    skip |= set((DATA / "realsuite_tuning_events.txt").read_text(encoding="utf-8").split())
    texts = held_out_texts()
    cascades = []
    with gzip.open(cascades_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["rumor"] and d["event"] not in skip and any(r[2].strip() for r in d["reposts"]):
                cascades.append(d)
    cascades.sort(key=lambda d: d["event"])
    rng = random.Random(TRAIN_SEED)
    rng.shuffle(cascades)
    rows: list[tuple[int, dict[str, str]]] = []
    for d in cascades:
        order = [i for i, r in enumerate(d["reposts"]) if r[2].strip()]
        rng.shuffle(order)
        taken: list[str] = []
        for i in order:
            text = d["reposts"][i][2]
            if text in taken or normalize(text) in texts or not holdout.keeps(own_words(text) or text):
                continue
            taken.append(text)
            rows.append((len(taken), {"event": d["event"], "text": text, "context": d["original"]["text"]}))
            if len(taken) == TRAIN_DRAWS[-1][0]:
                break
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for cap, n in TRAIN_DRAWS:
        more = [r for rank, r in rows if rank <= cap and (r["event"], r["text"]) not in seen][:n]
        seen |= {(r["event"], r["text"]) for r in more}
        out += more
    person = set((DATA / "realsuite_person_events.txt").read_text(encoding="utf-8").split())
    return out[:FIRST_DRAWS] + [r for r in out[FIRST_DRAWS:] if r["event"] not in person]


BOILERPLATE = re.compile(r"https?://\S+|[（(]\s*分享自[^）)]*[）)]|@\S+")


def _grams(text: str, n: int = 5) -> set[str]:
    text = normalize(BOILERPLATE.sub("", text))
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def near_copies(cascades_path: Path, threshold: float = 0.08) -> list[str]:
    """Rumour cascades outside the set whose original is the same story as a sampled original:
    char 5-gram Jaccard >= ``threshold`` after dropping links, @names and share tags. The
    rumour half of the file holds the same rumours posted again and again by different
    people; every pair spot-checked down to 0.08 was the same story."""
    sampled = {r["event"]: _grams(r["context"]) for r in load(SET)}
    out = []
    with gzip.open(cascades_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["event"] in sampled or not d["rumor"]:
                continue
            grams = _grams(d["original"]["text"])
            if any(len(grams & g) / max(1, len(grams | g)) >= threshold for g in sampled.values()):
                out.append(d["event"])
    return sorted(out)


def kind(text: str) -> str:
    """What a reaction is made of: bare repost, @-mentions only, chain only, emoticons only, words."""
    own = CHAIN.split(text, maxsplit=1)[0]
    core = re.sub(r"[\s。.，,!！~～…]+", "", own)
    if core.lower() in BARE:
        return "bare repost (转发微博 …)"
    if not core and CHAIN.search(text):
        return "//@ chain, no own words"
    if not core:
        return "punctuation only"
    if not MENTION.sub("", core).strip(":：回复"):
        return "@-mentions only"
    if not EMOTICON.sub("", core):
        return "emoticons only"
    return "words"


def with_context(text: str, context: str) -> str:
    """A repost as Weibo shows it inline: the reposter's words first, then ``//@author:`` and
    what they repost. The original's author is not in the set, so a fixed name stands in.
    Text first also means a long original is what the 128-token limit cuts, not the reaction."""
    return f"{text}//@原博:{context}"


def kappa(a: Sequence[str], b: Sequence[str]) -> float:
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement(first: Sequence[str], second: Sequence[str]) -> dict[str, float]:
    neg1 = ["negative" if x == "negative" else "not" for x in first]
    neg2 = ["negative" if x == "negative" else "not" for x in second]
    return {
        "n": len(first),
        "raw_3class": sum(x == y for x, y in zip(first, second, strict=True)) / len(first),
        "kappa_3class": kappa(first, second),
        "raw_neg_vs_not": sum(x == y for x, y in zip(neg1, neg2, strict=True)) / len(first),
        "kappa_neg_vs_not": kappa(neg1, neg2),
    }


def score(
    gold: Sequence[str],
    probs: Iterable[float],
    band: float,
    neutral: Sequence[float | None] | None = None,
    pred3: Sequence[str] | None = None,
) -> dict[str, object]:
    """``neutral``: P(neutral) per item from a model with a learnt neutral class (3 classes);
    ``pred3``: the 3-class calls where they do not come from ``probs`` and the band."""
    probs = list(probs)
    if pred3 is None:
        pred3 = [
            sentiment_label(p, band, None if neutral is None else neutral[i]) for i, p in enumerate(probs)
        ]
    neg_gold = [g == "negative" for g in gold]
    neg_pred = [p >= 0.5 for p in probs]
    confusion = {g: {p: 0 for p in LABELS} for g in LABELS}
    for g, p in zip(gold, pred3, strict=True):
        confusion[g][p] += 1
    binary = {g: {"negative": 0, "not": 0} for g in LABELS}
    for g, p in zip(gold, neg_pred, strict=True):
        binary[g]["negative" if p else "not"] += 1
    tp = sum(g and p for g, p in zip(neg_gold, neg_pred, strict=True))
    return {
        "neg_vs_not_accuracy": sum(g == p for g, p in zip(neg_gold, neg_pred, strict=True)) / len(gold),
        "neg_precision": tp / max(1, sum(neg_pred)),
        "neg_recall": tp / max(1, sum(neg_gold)),
        "accuracy_3class": sum(g == p for g, p in zip(gold, pred3, strict=True)) / len(gold),
        "predicted_3class": dict(Counter(pred3)),
        "confusion_3class": confusion,
        "confusion_neg_vs_not": binary,
    }


def mcnemar(gold: Sequence[str], a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Exact McNemar test of two readers' negative-vs-not calls: items only ``a`` gets right,
    only ``b`` gets right, and the two-sided p-value."""
    right_a = [(p >= 0.5) == (g == "negative") for g, p in zip(gold, a, strict=True)]
    right_b = [(p >= 0.5) == (g == "negative") for g, p in zip(gold, b, strict=True)]
    only_a = sum(x and not y for x, y in zip(right_a, right_b, strict=True))
    only_b = sum(y and not x for x, y in zip(right_a, right_b, strict=True))
    n, k = only_a + only_b, min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n if n else 1.0
    return {"only_first": only_a, "only_second": only_b, "p": min(1.0, 2 * tail)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--no-baseline", action="store_true", help="skip TF-IDF + LR (its fit takes minutes)")
    parser.add_argument("--json", help="also write every number to this file")
    parser.add_argument("--draw", help="write the unlabelled draw to this file and stop")
    parser.add_argument(
        "--draw-train", help="write the unlabelled draw of reaction_train.jsonl here and stop"
    )
    parser.add_argument("--near", help="write the near-copy cascades' event ids to this file and stop")
    parser.add_argument("--model", default=ClassifierConfig().model, help="model directory to read with")
    args = parser.parse_args()
    shared = Path(args.shared)

    for out, drawn in ((args.draw, draw), (args.draw_train, draw_training)):
        if out:
            rows = drawn(shared / "weibo_cascades.jsonl.gz")
            Path(out).write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
            )
            print(f"{len(rows)} reactions from {len({r['event'] for r in rows})} cascades -> {out}")
            return

    if args.near:
        events = near_copies(shared / "weibo_cascades.jsonl.gz")
        Path(args.near).write_text("".join(e + "\n" for e in events), encoding="utf-8")
        print(f"{len(events)} near-copy cascades -> {args.near}")
        return

    rows = load(SET)
    gold = [r["label"] for r in rows]
    n = len(rows)
    out: dict[str, object] = {"n": n, "cascades": len({r["event"] for r in rows})}
    out["labels"] = dict(Counter(gold))
    kinds = [kind(r["text"]) for r in rows]
    out["composition"] = {
        k: {"n": c, **Counter(g for g, kk in zip(gold, kinds, strict=True) if kk == k)}
        for k, c in Counter(kinds).most_common()
    }
    out["short_le_4_chars"] = sum(len(r["text"].strip()) <= 4 for r in rows)

    index = {(r["event"], r["text"]): r["label"] for r in rows}
    second = load(RELABEL)
    out["agreement"] = agreement(
        [index[(r["event"], r["text"])] for r in second], [r["label"] for r in second]
    )
    other = load(SECOND_READER)
    out["agreement_second_reader"] = agreement(
        [index[(r["event"], r["text"])] for r in other], [r["label"] for r in other]
    )

    cfg = ClassifierConfig(model=args.model)
    os.chdir(REPO)  # the default config names models/default relative to the repo root
    from sentinel.nlp.scoring import load_classifier

    clf = load_classifier(cfg)
    inputs = {
        "text": [r["text"] for r in rows],
        "text//@原博:context": [with_context(r["text"], r["context"]) for r in rows],
        "context only": [r["context"] for r in rows],
    }
    results: dict[str, dict[str, object]] = {}
    read = {name: clf.classify(texts) for name, texts in inputs.items()}
    probs = {name: [s.negative for s in scores] for name, scores in read.items()}
    for name, p in probs.items():
        neutral = [s.neutral for s in read[name]]
        results[f"sentinel int8 reads {name}"] = score(gold, p, cfg.neutral_band, neutral)
    from sentinel.nlp.reaction_reader import ReactionReader

    reader = ReactionReader.beside(args.model)
    if reader is not None:
        # the reaction reader: the words read as a reaction to the post (docs/model.md), and
        # after the crowd before it in its cascade where the cascades file is at hand
        from sentinel.nlp.reactions import crowds_of

        cascades = shared / "weibo_cascades.jsonl.gz"
        contexts = [r["context"] for r in rows]
        readers = {"text under its context": reader.read(clf, inputs["text"], contexts)}
        if cascades.is_file():
            crowds = crowds_of(rows, cascades)
            readers["text under its context, after its crowd"] = reader.read(
                clf, inputs["text"], contexts, crowds
            )
        # 3 classes: negative by the reader; otherwise the model's call, neutral where it said negative
        own = [sentiment_label(s.negative, cfg.neutral_band, s.neutral) for s in read["text"]]
        for name, p_reader in readers.items():
            pred3 = [
                "negative" if p >= 0.5 else "neutral" if o == "negative" else o
                for p, o in zip(p_reader, own, strict=True)
            ]
            results[f"sentinel int8 + reaction reader ({name})"] = score(
                gold, p_reader, cfg.neutral_band, pred3=pred3
            )
        out["reader_vs_model"] = mcnemar(gold, probs["text"], p_reader)
    by_kind: dict[str, object] = {}
    for k in Counter(kinds):
        keep = [i for i, kk in enumerate(kinds) if kk == k]
        by_kind[k] = {
            reads: score([gold[i] for i in keep], [probs[reads][i] for i in keep], cfg.neutral_band)[
                "neg_vs_not_accuracy"
            ]
            for reads in ("text", "text//@原博:context")
        }
    out["sentinel_neg_vs_not_by_kind"] = by_kind

    if not args.no_baseline and shared.is_dir():
        from sentinel.nlp.baseline import TfidfBaseline
        from sentinel.nlp.data import load_corpora, split_of

        train = [e for e in load_corpora(shared) if split_of(e.text) == "train"]
        baseline = TfidfBaseline().fit([e.text for e in train], [e.negative for e in train])
        out["baseline_train_rows"] = len(train)
        for name in ("text", "text//@原博:context"):
            results[f"TF-IDF + LR reads {name}"] = score(
                gold, baseline.predict_proba(inputs[name]), cfg.neutral_band
            )
    out["results"] = results

    print(f"{n} reactions from {out['cascades']} rumour cascades; labels {out['labels']}")
    print(
        f"majority class (negative-vs-not): {max(gold.count('negative'), n - gold.count('negative')) / n:.3f}\n"
    )
    print("| made of | items | negative | neutral | positive |\n|---|---:|---:|---:|---:|")
    for k, c in out["composition"].items():
        print(f"| {k} | {c['n']} | {c.get('negative', 0)} | {c.get('neutral', 0)} | {c.get('positive', 0)} |")
    print()
    for who, key in (("second pass, same reader", "agreement"), ("second reader", "agreement_second_reader")):
        a = out[key]
        print(
            f"{who} on {a['n']}: raw {a['raw_3class']:.2f} kappa {a['kappa_3class']:.2f} (3 classes); "
            f"raw {a['raw_neg_vs_not']:.2f} kappa {a['kappa_neg_vs_not']:.2f} (negative vs not)"
        )
    print()
    print("| reader | negative vs not | neg. precision / recall | 3 classes | predicted neg / neu / pos |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        p = r["predicted_3class"]
        print(
            f"| {name} | {r['neg_vs_not_accuracy']:.3f} | {r['neg_precision']:.2f} / {r['neg_recall']:.2f} | "
            f"{r['accuracy_3class']:.3f} | {p.get('negative', 0)} / {p.get('neutral', 0)} / {p.get('positive', 0)} |"
        )
    if "reader_vs_model" in out:
        m = out["reader_vs_model"]
        print(
            f"\nreaction reader vs the model alone (reads text): {m['only_second']} items only the reader gets "
            f"right, {m['only_first']} only the model; exact McNemar p = {m['p']:.3g}"
        )
    print("\n| made of | sentinel reads text | reads text//@原博:context |\n|---|---:|---:|")
    for k, v in by_kind.items():
        print(f"| {k} | {v['text']:.3f} | {v['text//@原博:context']:.3f} |")
    for name, r in results.items():
        print(
            f"\n{name}: confusion, gold rows x predicted (negative / neutral / positive | P>=0.5 negative / not)"
        )
        for g in LABELS:
            c3, c2 = r["confusion_3class"][g], r["confusion_neg_vs_not"][g]
            print(
                f"  {g:9s} {c3['negative']:4d} {c3['neutral']:4d} {c3['positive']:4d} | {c2['negative']:4d} {c2['not']:4d}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
