"""The model in models/default: loads, scores sensibly, stays small, quantises cleanly."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from torch import nn

import sentinel.nlp
from sentinel.nlp import build_classifier
from sentinel.nlp.data import load_jsonl_examples, parse_label
from sentinel.nlp.evaluate import evaluate_examples
from sentinel.nlp.text import EMOTICON_RE
from sentinel.nlp.transformer import TransformerClassifier, resolve_model_dir

from .conftest import MODEL_DIR

TEXTS = [
    "质量太差了，用了两天就坏了，再也不买了",
    "很好用，物流也快，五星好评",
    "客服态度恶劣，打了十次电话都没人处理",
    "酒店位置很好，房间干净，服务周到",
    "外卖送得太慢了，饭菜都凉了，很失望",
    "",
]


def test_public_api() -> None:
    assert sorted(sentinel.nlp.__all__) == [
        "Classifier",
        "ClassifierSettings",
        "Scores",
        "build_classifier",
        "sentiment_label",
    ]


def test_size_limit_and_files() -> None:
    size = sum(p.stat().st_size for p in MODEL_DIR.iterdir() if p.is_file())
    assert size <= 25 * 1024 * 1024
    report = json.loads((MODEL_DIR / "training_report.json").read_text(encoding="utf-8"))
    assert report["train_seconds"] <= 30 * 60


def test_scores_make_sense(shipped: TransformerClassifier) -> None:
    scores = shipped.classify(TEXTS)
    assert len(scores) == len(TEXTS)
    assert scores[0].negative > 0.8 and scores[2].negative > 0.8 and scores[4].negative > 0.8
    assert scores[1].negative < 0.2 and scores[3].negative < 0.2
    assert set(scores[0].topics) == set(shipped.topic_labels) and len(shipped.topic_labels) == 11
    assert all(0.0 <= p <= 1.0 for s in scores for p in s.topics.values())


def test_order_does_not_change_scores(shipped: TransformerClassifier) -> None:
    forward = shipped.classify(TEXTS)
    backward = shipped.classify(TEXTS[::-1])[::-1]
    assert [s.negative for s in forward] == pytest.approx([s.negative for s in backward], abs=1e-5)


def test_quantisation_toggle_keeps_the_decisions(
    shipped: TransformerClassifier, shipped_fp32: TransformerClassifier
) -> None:
    assert shipped.quantized and not shipped_fp32.quantized
    assert shipped.name.endswith("+int8") and not shipped_fp32.name.endswith("+int8")
    assert any(type(m).__module__.startswith("torch.ao") for m in shipped.model.modules())
    assert all(
        type(m) is not nn.Linear or m.weight.dtype.is_floating_point for m in shipped_fp32.model.modules()
    )
    q = [s.negative for s in shipped.classify(TEXTS)]
    f = [s.negative for s in shipped_fp32.classify(TEXTS)]
    assert q == pytest.approx(f, abs=0.05)


def test_the_encoder_reads_max_length_and_the_bags_the_whole_text(shipped: TransformerClassifier) -> None:
    long_text = "很好" * 7 + "，但是" + "太差了" * 50  # the complaint starts after 17 characters
    short = TransformerClassifier(MODEL_DIR, max_length=16, quantize=False, threads=1)
    assert short.max_length == 16 and short.bag_length == 1024  # bag_chars, the model's default
    heads = TransformerClassifier(MODEL_DIR, max_length=16, quantize=False, threads=1)
    heads.bag_length = 16  # what every part read before 2026-12-07: the first 15 characters
    assert heads.classify([long_text])[0].negative < short.classify([long_text])[0].negative
    # a review whose verdict comes after the encoder's 127 characters
    review = (
        "这次买的是新款，"
        + "包装和物流都正常，" * 15
        + "用了两天就坏了，质量太差，做工粗糙，客服也不理人，千万别买，退货！"
    )
    assert len(review) > shipped.max_length
    whole = shipped.classify([review])[0].negative
    short_texts = [s.negative for s in shipped.classify(TEXTS)]
    shipped.bag_length = shipped.max_length
    try:
        head = shipped.classify([review])[0].negative
        short_texts_before = [s.negative for s in shipped.classify(TEXTS)]
    finally:
        shipped.bag_length = 1024
    assert whole > head + 0.2
    # texts within max_length read exactly as before: the bags get nothing more to read
    assert short_texts == short_texts_before


def test_build_classifier_dispatches_on_type() -> None:
    cfg = SimpleNamespace(
        type="transformer",
        model="models/default",
        threads=2,
        batch_size=64,
        max_length=128,
        quantize=True,
        label_map={},
    )
    assert isinstance(build_classifier(cfg), TransformerClassifier)
    with pytest.raises(ValueError, match="unknown classifier"):
        build_classifier(SimpleNamespace(type="nope"))


def test_relative_model_path_resolves_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_model_dir("models/default") == MODEL_DIR


def test_seed_terms_set_a_floor_under_topic_scores(shipped: TransformerClassifier) -> None:
    text = "吃了他家的凉皮食物中毒，整整住院三天"
    head_only = TransformerClassifier(MODEL_DIR, quantize=True, seed_floor=None)
    with_floor = shipped.classify([text])[0].topics
    alone = head_only.classify([text])[0].topics
    assert with_floor["product_safety"] >= 0.6
    assert with_floor["product_safety"] == pytest.approx(max(0.6, alone["product_safety"]), abs=1e-6)
    # the floor only touches topics whose seed terms occur
    assert with_floor["data_privacy"] == pytest.approx(alone["data_privacy"], abs=1e-6)


def test_reads_weibo_text_without_emoticons(shipped: TransformerClassifier) -> None:
    """The reader set (tests/data/README.md): stripped Weibo posts, emoticon labels. Saying
    "negative" everywhere scores 0.52 there, a person reading the text 0.74, the model 0.66."""
    path = MODEL_DIR.parents[1] / "tests" / "data" / "weibo_stripped_reader.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 320 and not any(EMOTICON_RE.search(r["text"]) for r in rows)
    gold = [parse_label(r["label"]) for r in rows]
    majority = max(sum(gold), len(gold) - sum(gold)) / len(gold)
    scores = shipped.classify([r["text"] for r in rows])
    accuracy = sum(int(s.negative > 0.5) == g for s, g in zip(scores, gold, strict=True)) / len(gold)
    assert accuracy >= majority + 0.05


@pytest.mark.parametrize(("name", "floor"), [("hotel_probe", 0.9), ("delivery_probe", 0.85)])
def test_carries_over_to_the_domains_the_shared_data_lacks(
    shipped: TransformerClassifier, name: str, floor: float
) -> None:
    """Hand-written hotel and delivery reviews (tests/data/README.md; 1.00 and 0.92 when
    written): domains absent from the training data must not fall apart."""
    examples = load_jsonl_examples(MODEL_DIR.parents[1] / "tests" / "data" / f"{name}.jsonl")
    assert len(examples) == 50 and sum(e.negative for e in examples) == 25
    assert evaluate_examples(shipped, examples)["accuracy"] >= floor  # as `sentinel evaluate --data`


@pytest.mark.parametrize(
    ("name", "faults", "virtues"), [("negation_probe", 12, 19), ("negation_probe2", 20, 32)]
)
def test_reads_a_denied_fault_as_praise(
    shipped: TransformerClassifier, name: str, faults: int, virtues: int
) -> None:
    """The negation probes (tests/data/README.md; docs/model.md, *Negation*). When shipped:
    14 of 22 and 23 of 40 denied faults read positive (5 and 2 before the bag read a negator's
    scope), 21 of 22 and 35 of 40 denied virtues read negative (22 and 35 before)."""
    examples = load_jsonl_examples(MODEL_DIR.parents[1] / "tests" / "data" / f"{name}.jsonl")
    scores = shipped.classify([e.text for e in examples])
    right = [(s.negative >= 0.5) == bool(e.negative) for s, e in zip(scores, examples, strict=True)]
    assert sum(ok for ok, e in zip(right, examples, strict=True) if not e.negative) >= faults
    assert sum(ok for ok, e in zip(right, examples, strict=True) if e.negative) >= virtues
