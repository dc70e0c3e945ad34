"""Real reactions for training (sentinel.nlp.reactions): weak labels from emoticons, what is
held out, and `sentinel train --reactions` learning from them. Needs no ../shared: the
cascades are a small file written here."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from sentinel.nlp.base import sentiment_label
from sentinel.nlp.reactions import (
    DEFAULT_HOLDOUT,
    LABELLED,
    NEUTRAL_TARGET,
    Holdout,
    labelled_examples,
    pretraining_texts,
    reactions,
    weak_examples,
    weak_label,
)
from sentinel.nlp.train import TrainSettings, train
from sentinel.nlp.transformer import TransformerClassifier
from sentinel.simulate.cascades import suite_half

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, cascades: list[tuple[str, list[str]]]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for event, texts in cascades:
            reposts = [[i * 10, f"u{i}", t] for i, t in enumerate(texts)]
            fh.write(
                json.dumps({"event": event, "rumor": True, "original": {"text": "原博"}, "reposts": reposts})
                + "\n"
            )
    return path


def test_weak_label_follows_the_emoticons() -> None:
    assert weak_label("太过分了[怒][怒][哈哈]") == 1
    assert weak_label("哈哈哈[哈哈]") == 0
    assert weak_label("[怒][哈哈]") is None  # a tie
    assert weak_label("[围观]") is None  # neither list
    assert weak_label("没有表情") is None
    # neutral emoticons (questions, onlooking, surprise alone) only when asked for
    assert weak_label("真的吗[疑问]") is None and weak_label("真的吗[疑问]", neutral=True) == NEUTRAL_TARGET
    assert weak_label("[吃惊]") == 1 and weak_label("[吃惊]", neutral=True) == NEUTRAL_TARGET
    assert weak_label("[吃惊][怒]", neutral=True) == 1
    assert weak_label("[围观][哈哈]", neutral=True) == 0


def test_weak_examples_hold_out_and_balance(tmp_path: Path) -> None:
    # own words as the real-cascade suite's background pool keys them (emoticons included)
    background = next(t for t in (f"这件事真的太离谱了{i}[怒]" for i in range(100)) if suite_half(t) == 1)
    tuning_half = next(t for t in (f"这件事真的太离谱了{i}[怒]" for i in range(100)) if suite_half(t) == 0)
    cascades = _write(
        tmp_path / "c.jsonl.gz",
        [
            (
                "kept",
                [
                    "恶心[怒]",
                    "可怕[泪]",
                    "真棒[赞]",
                    "真棒[赞]",
                    "赞同[心]",
                    "转发微博",
                    "[怒]",
                    "嗯//@a:气死[怒]",
                ],
            ),
            ("sampled", ["不许读我[怒]", "也不许[哈哈]"]),
            ("other", ["held out text[怒]", background, tuning_half, "支持[赞]"]),
        ],
    )
    (tmp_path / "events.txt").write_text("sampled\n", encoding="utf-8")
    (tmp_path / "set.jsonl").write_text(json.dumps({"text": "held out text"}) + "\n", encoding="utf-8")
    holdout = Holdout.load([tmp_path / "events.txt", tmp_path / "set.jsonl"])
    assert holdout.events == {"sampled"} and holdout.texts == {"held out text"}

    rows = weak_examples(reactions(cascades, holdout), holdout, per_class=10, seed=1)
    texts = {e.text: e.negative for e in rows}
    # emoticons stripped; a bare emoticon leaves nothing and is dropped; the chain is not the
    # reposter's words ("嗯" has no emoticon of its own); one copy of "真棒"; the held-out
    # half's background texts (6 characters or more, by their hash) are skipped
    assert texts == {
        "恶心": 1,
        "可怕": 1,
        tuning_half.removesuffix("[怒]"): 1,
        "真棒": 0,
        "赞同": 0,
        "支持": 0,
    }
    assert all(e.corpus == "weibo_reactions" for e in rows)
    assert (
        len(weak_examples(reactions(cascades, holdout), holdout, per_class=1, seed=1)) == 2
    )  # one of each class
    assert not any(e.target for e in rows)

    everything = pretraining_texts(reactions(cascades, holdout), limit=100)
    assert "不许读我[怒]" not in everything and background not in everything
    assert "转发微博" in everything and tuning_half in everything and "恶心[怒]" in everything
    assert len(pretraining_texts(reactions(cascades, holdout), limit=3)) == 3
    holdout.suite_background = False
    assert background in pretraining_texts(reactions(cascades, holdout), limit=100)


def test_the_default_holdout_covers_both_held_out_sets() -> None:
    holdout = Holdout.load(DEFAULT_HOLDOUT)
    data = REPO / "tests" / "data"
    crisis_set = {
        json.loads(line)["event"] for line in (data / "crisis_reactions.jsonl").read_text().splitlines()
    }
    suite = set((data / "realsuite_heldout_events.txt").read_text().split())
    assert len(suite) == 220  # 20 held-out streams: crisis, viral, harmless and 8 small cascades each
    assert crisis_set <= holdout.events and suite <= holdout.events
    assert len(holdout.texts) >= 600


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Labelled reviews that never say 离谱 or 靠谱, and reactions that say them with emoticons."""
    root = tmp_path_factory.mktemp("reactions")
    data = root / "data"
    data.mkdir()
    rng = random.Random(5)
    good, bad = ["很好", "不错", "喜欢", "满意"], ["太差", "失望", "垃圾", "退货"]
    with (data / "toy.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(200):
            negative = i % 2 == 0
            text = "，".join(rng.sample(bad if negative else good, 2)) + f"{i}"
            fh.write(json.dumps({"text": text, "label": "negative" if negative else "positive"}) + "\n")
    reactions = [
        f"{w}{i}[{e}]" for i in range(150) for w, e in (("真离谱", "怒"), ("很靠谱", "赞"), ("求证", "疑问"))
    ]
    _write(data / "weibo_cascades.jsonl.gz", [("e1", reactions)])
    return data


def _settings(data: Path, out: Path, reactions: int) -> TrainSettings:
    return TrainSettings(
        data=data,
        out=out,
        taxonomy=REPO / "config" / "taxonomy.yaml",
        # the toy corpora alone: not the bundled hand-labelled reactions of the shipped recipe
        labelled_reactions=None,
        labelled_weight=1.0,
        labelled_neutral=NEUTRAL_TARGET,
        seed=3,
        hidden=32,
        layers=1,
        heads=2,
        intermediate=64,
        ngram_buckets=512,
        ngram_dim=8,
        linear_buckets=2048,
        max_length=24,
        mlm_epochs=0.5,
        batch_size=16,
        reactions=reactions,
        neutral_reactions=reactions,
        mlm_reactions=100 if reactions else 0,
        holdout=(),
        progress=False,
    )


def test_train_learns_from_reactions(toy: Path) -> None:
    train(_settings(toy, toy.parent / "a", 0), log=lambda _: None)
    without = TransformerClassifier(toy.parent / "a")
    report = train(_settings(toy, toy.parent / "b", 1000), log=lambda _: None)
    assert report["rows"]["reactions"] > 100  # type: ignore[index]
    with_reactions = TransformerClassifier(toy.parent / "b")
    probe = ["真离谱", "很靠谱", "求证"]
    a = [s.negative for s in without.classify(probe)]
    b = [s.negative for s in with_reactions.classify(probe)]
    # the reviews alone leave the two apart by chance; the reactions teach which is which, and
    # that a request to verify sits in between (towards 0.4)
    assert b[0] > 0.5 > b[1]
    assert b[0] - b[1] > a[0] - a[1] + 0.2
    assert b[1] < b[2] < b[0] and abs(b[2] - NEUTRAL_TARGET) < 0.2


def _labelled(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_labelled_reactions_are_read_with_their_targets_and_held_out_ones_refused(tmp_path: Path) -> None:
    rows = [
        {"event": "e1", "text": "太恶心了", "label": "negative"},
        {"event": "e1", "text": "求证", "label": "neutral"},
        {"event": "e2", "text": "好样的", "label": "positive"},
    ]
    examples = labelled_examples(_labelled(tmp_path / "a.jsonl", rows), Holdout())
    assert [(e.negative, e.target) for e in examples] == [(1, 1.0), (0, NEUTRAL_TARGET), (0, 0.0)]
    assert {e.corpus for e in examples} == {LABELLED}
    # "negative vs not": a neutral reaction may be trained as plainly not negative
    assert labelled_examples(tmp_path / "a.jsonl", Holdout(), neutral=0.0)[1].target == 0.0
    with pytest.raises(ValueError, match="held out"):
        labelled_examples(tmp_path / "a.jsonl", Holdout(events={"e2"}))
    with pytest.raises(ValueError, match="held out"):
        labelled_examples(tmp_path / "a.jsonl", Holdout(texts={"求证"}))
    bad = _labelled(tmp_path / "b.jsonl", [{"event": "e1", "text": "嗯", "label": "angry"}])
    with pytest.raises(ValueError, match=r"b\.jsonl:1"):
        labelled_examples(bad, Holdout())


def test_the_shipped_labelled_reactions_are_kept_apart_from_every_held_out_set() -> None:
    """tests/data/reaction_train.jsonl: 38,511 reactions labelled under the crisis-reaction
    guideline, from rumour cascades that neither that set nor the real-cascade suite uses."""
    path = REPO / "tests" / "data" / "reaction_train.jsonl"
    examples = labelled_examples(path, Holdout.load(DEFAULT_HOLDOUT))  # raises on a leak
    assert len(examples) == 38511
    tuning = set((REPO / "tests" / "data" / "realsuite_tuning_events.txt").read_text().split())
    events = {json.loads(line)["event"] for line in path.read_text(encoding="utf-8").split("\n") if line}
    assert not events & tuning


def test_the_labelled_reactions_second_readers_agree_with_the_first() -> None:
    """reaction_train_overlap.jsonl: 1,502 labels of the first reader's 1,000 rows given blind by
    the readers of rows 1,001-38,511, a row by one or two of them (tests/data/README.md gives
    the agreement)."""
    data = REPO / "tests" / "data"
    first = {
        (r["event"], r["text"]): r["label"]
        for r in map(
            json.loads, (data / "reaction_train.jsonl").read_text(encoding="utf-8").split("\n")[:1000]
        )
    }
    overlap = [
        json.loads(line)
        for line in (data / "reaction_train_overlap.jsonl").read_text(encoding="utf-8").split("\n")
        if line
    ]
    assert len(overlap) == 1502 and {r["reader"] for r in overlap} == set(range(2, 51))
    same = sum(first[(r["event"], r["text"])] == r["label"] for r in overlap)
    assert same == 1362  # 91 %


def _toy_labelled(path: Path) -> Path:
    """120 each of a complaint, a compliment and a question, hand-labelled."""
    rows = [
        {"event": f"x{i}", "text": f"{w}{i}", "label": label}
        for i in range(120)
        for w, label in (("真离谱", "negative"), ("很靠谱", "positive"), ("求证", "neutral"))
    ]
    return _labelled(path, rows)


def test_train_learns_from_labelled_reactions(toy: Path) -> None:
    path = _toy_labelled(toy.parent / "labelled.jsonl")
    settings = _settings(toy, toy.parent / "c", 0)
    settings.labelled_reactions, settings.labelled_weight = path, 2.0
    report = train(settings, log=lambda _: None)
    assert report["rows"]["labelled_reactions"] == 360  # type: ignore[index]
    model = TransformerClassifier(toy.parent / "c")
    bad, good, ask = (s.negative for s in model.classify(["真离谱", "很靠谱", "求证"]))
    assert bad > 0.5 > good
    assert good < ask < bad and abs(ask - NEUTRAL_TARGET) < 0.2


def test_labelled_neutral_reactions_teach_a_neutral_class(toy: Path) -> None:
    """With hand-labelled neutral reactions the model learns P(neutral) (a logistic regression
    over the n-gram bag): "求证" is neutral because it reads so, not because the band says so."""
    path = _toy_labelled(toy.parent / "labelled.jsonl")
    settings = _settings(toy, toy.parent / "n", 0)
    settings.labelled_reactions, settings.labelled_weight, settings.labelled_neutral = path, 2.0, 0.0
    train(settings, log=lambda _: None)
    model = TransformerClassifier(toy.parent / "n")
    bad, good, ask = model.classify(["真离谱", "很靠谱", "求证"])
    assert ask.negative < 0.5 and good.negative < 0.5 < bad.negative  # neutral trained as "not negative"
    assert ask.neutral is not None and good.neutral is not None
    assert ask.neutral > 0.5 > good.neutral
    assert [sentiment_label(s.negative, 0.15, s.neutral) for s in (bad, good, ask)] == [
        "negative",
        "positive",
        "neutral",
    ]
    # the band alone would have called the question positive, as a model without the head does
    assert sentiment_label(ask.negative, 0.15) == "positive"
    settings.neutral_c = 0.0
    settings.out = toy.parent / "no-head"
    train(settings, log=lambda _: None)
    assert TransformerClassifier(toy.parent / "no-head").classify(["求证"])[0].neutral is None


def test_a_missing_labelled_file_is_a_clear_error(toy: Path) -> None:
    settings = _settings(toy, toy.parent / "m", 0)
    settings.labelled_reactions = toy.parent / "nowhere.jsonl"
    with pytest.raises(ValueError, match=r"nowhere\.jsonl: no such file.*--labelled-limit 0"):
        train(settings, log=lambda _: None)
    settings.labelled_limit = 0  # none asked for: the file is not read
    assert train(settings, log=lambda _: None)["rows"]["labelled_reactions"] == 0  # type: ignore[index]


def test_sentiment_label_with_a_learnt_neutral_class() -> None:
    assert sentiment_label(0.9, 0.15, 0.9) == "negative"  # negative first: an angry "question"
    assert sentiment_label(0.1, 0.15, 0.7) == "neutral"
    assert sentiment_label(0.1, 0.15, 0.2) == "positive"
    assert sentiment_label(0.55, 0.15, 0.1) == "neutral"  # the band still holds the unsure
    assert sentiment_label(0.1, 0.15) == "positive"  # no neutral class: the band alone
