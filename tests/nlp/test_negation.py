"""Negation in the n-gram bag: "不难吃" must not count the evidence of "难吃" (docs/model.md,
*Negation*), and the hand-written negation data stays apart from the probes that measure it."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from sentinel.nlp.data import load_jsonl_examples
from sentinel.nlp.modeling import SentinelConfig, bag_buckets, negation_scope

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
NEG, BREAK = 1, 2


def _scope(ids: list[int], scope: int = 4, words: list[int] | None = None) -> str:
    """Which positions are in scope, as a string of 0 and 1."""
    pairs = None if words is None else torch.tensor(words)
    marked = negation_scope(torch.tensor([ids]), torch.tensor([NEG]), torch.tensor([BREAK]), scope, pairs)
    return "".join(str(int(m)) for m in marked[0])


def test_a_scope_opens_after_a_negator_and_closes_at_punctuation_or_its_length() -> None:
    # [CLS] 不 a b c d e , a 不 b , c
    assert _scope([0, NEG, 5, 6, 7, 8, 9, BREAK, 5, NEG, 6, BREAK, 7]) == "0011110000100"
    # a second negator inside a scope starts a new one; neither negator is itself in scope
    assert _scope([0, NEG, 5, NEG, 6, 7], scope=2) == "001011"
    # no negator, no scope
    assert _scope([0, 5, 6, BREAK, 7]) == "00000"


def test_a_negator_inside_a_word_that_does_not_negate_opens_no_scope() -> None:
    # 不料 (ids 1, 8) is "unexpectedly", 特别 (9, 1) "especially": "不料她却惨" denies nothing
    words = [1 * (1 << 20) + 8, 9 * (1 << 20) + 1]
    assert _scope([0, NEG, 8, 5, 6, BREAK, 9, NEG, 5, 6, BREAK, NEG, 5, 6], words=words) == "00000000000011"


def _config(scope: int) -> SentinelConfig:
    return SentinelConfig(linear_buckets=1 << 12, negation_scope=scope, negator_ids=[NEG], break_ids=[BREAK])


def test_an_ngram_in_a_negators_scope_goes_to_a_bucket_of_its_own() -> None:
    ids = torch.tensor([[0, 5, 6, BREAK, NEG, 5, 6, BREAK, 5, 6]])
    plain = bag_buckets(ids, _config(0))[0]
    marked = bag_buckets(ids, _config(4))[0]
    scoped = [5, 6]
    for t in range(ids.shape[1]):
        assert torch.equal(plain[t], marked[t]) == (t not in scoped), t
    # "5 6" after the negator reads apart from "5 6" before it, and as before it after the break
    assert set(marked[6].tolist()).isdisjoint(marked[2].tolist())
    assert torch.equal(marked[2, :2], marked[9, :2])  # the unigram and bigram (the trigrams differ)


def test_a_model_from_before_the_change_reads_no_scope() -> None:
    legacy = SentinelConfig.from_dict({"linear_buckets": 1 << 12})  # a config.json without the keys
    assert legacy.negation_scope == 0 and legacy.negator_ids == []
    ids = torch.tensor([[0, NEG, 5, 6]])
    assert torch.equal(bag_buckets(ids, legacy), bag_buckets(ids, _config(0)))


def test_the_negation_training_data_holds_no_probe_line() -> None:
    """tests/data/negation_train.jsonl was written by three people who saw neither probe;
    any row that contains a probe line (or is contained in one) was dropped, so both probes
    measure reading negation, not recall of their lines."""
    train = load_jsonl_examples(DATA / "negation_train.jsonl")
    assert len(train) == 1474 and sum(e.negative for e in train) == 585
    texts = [e.text for e in train]
    assert len(set(texts)) == len(texts)
    probe2 = [
        json.loads(line) for line in (DATA / "negation_probe2.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(probe2) == 80
    assert sum(r["kind"] == "negated_fault" and r["label"] == "positive" for r in probe2) == 40
    assert sum(r["kind"] == "negated_virtue" and r["label"] == "negative" for r in probe2) == 40
    _hold_no_probe_line(texts)


def test_the_aspect_reviews_hold_no_probe_line_and_no_negation_row() -> None:
    """tests/data/aspect_reviews.jsonl (praise that names an aspect reviews mostly complain
    about) was written by two people who saw neither probe nor negation_train.jsonl; the rows
    that contain a probe line, punctuation aside, were dropped."""
    rows = load_jsonl_examples(DATA / "aspect_reviews.jsonl")
    assert len(rows) == 995 and sum(e.negative for e in rows) == 396
    texts = [e.text for e in rows]
    assert len(set(texts)) == len(texts)
    assert not set(texts) & {e.text for e in load_jsonl_examples(DATA / "negation_train.jsonl")}
    _hold_no_probe_line(texts)


def _hold_no_probe_line(texts: list[str]) -> None:
    """No text contains a line of either negation probe, or is contained in one."""
    probes = [
        e.text
        for name in ("negation_probe", "negation_probe2")
        for e in load_jsonl_examples(DATA / f"{name}.jsonl")
    ]
    for text in texts:
        assert not any(p in text or text in p for p in probes), text
