"""A tiny `sentinel train` run: it learns, saves a loadable model, and is reproducible."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from safetensors.torch import load_file

from sentinel.nlp.reactions import NEUTRAL_TARGET
from sentinel.nlp.train import TrainSettings, _jsonable, train
from sentinel.nlp.transformer import TransformerClassifier

REPO = Path(__file__).resolve().parents[2]

POSITIVE = ["很好", "不错", "喜欢", "满意", "推荐", "物美价廉", "发货快", "质量好"]
NEGATIVE = ["太差", "失望", "垃圾", "退货", "坏了", "客服不理人", "假货", "再也不买"]
FILLER = ["这个东西", "用了几天", "总的来说", "包装", "这次买的", "说实话", "[哈哈]", "[怒]"]


def _corpus(directory: Path, rows: int = 240) -> Path:
    rng = random.Random(7)
    directory.mkdir()
    with (directory / "toy_weibo.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(rows):
            negative = i % 2 == 0
            words = rng.sample(NEGATIVE if negative else POSITIVE, 2) + rng.sample(FILLER, 2)
            rng.shuffle(words)
            text = "，".join(words) + f"{i}"
            fh.write(
                json.dumps(
                    {"text": text, "label": "negative" if negative else "positive"}, ensure_ascii=False
                )
                + "\n"
            )
    return directory


def _settings(data: Path, out: Path, seed: int = 3) -> TrainSettings:
    return TrainSettings(
        data=data,
        out=out,
        taxonomy=REPO / "config" / "taxonomy.yaml",
        # the toy corpora alone: not the bundled hand-labelled reactions of the shipped recipe
        labelled_reactions=None,
        labelled_weight=1.0,
        labelled_neutral=NEUTRAL_TARGET,
        labelled_reviews=None,  # nor the bundled negation reviews
        negation_scope=0,
        seed=seed,
        epochs=2,
        batch_size=16,
        hidden=32,
        layers=1,
        heads=2,
        intermediate=128,
        ngram_buckets=512,
        ngram_dim=8,
        linear_buckets=1024,
        max_length=24,
        lr=3e-3,
        mlm_epochs=0.3,
        patience=5,
        threads=1,
        progress=False,
    )


def _timeless(history: object) -> list[dict[str, float]]:
    assert isinstance(history, list)
    return [{k: v for k, v in h.items() if k != "elapsed_s"} for h in history]


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _corpus(tmp_path_factory.mktemp("toy") / "data")


@pytest.fixture(scope="module")
def first(toy_data: Path) -> tuple[Path, dict[str, object]]:
    out = toy_data.parent / "a"
    return out, train(_settings(toy_data, out), log=lambda _: None)


def test_training_is_reproducible_and_saves_a_working_model(
    toy_data: Path, first: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    first_dir, first_report = first
    second = train(_settings(toy_data, tmp_path / "b"), log=lambda _: None)
    assert _timeless(first_report["history"]) == _timeless(second["history"])
    wa = load_file(str(first_dir / "model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert all(bool((wa[k] == wb[k]).all()) for k in wa)

    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "taxonomy.yaml",
        "training_report.json",
    ):
        assert (first_dir / name).is_file()
    clf = TransformerClassifier(first_dir, quantize=False, threads=1)
    scores = clf.classify(["太差，失望", "很好，推荐"])
    assert scores[0].negative > scores[1].negative
    assert len(scores[0].topics) == 11


def test_a_negation_scope_learns_a_denied_fault_from_labelled_reviews(toy_data: Path, tmp_path: Path) -> None:
    """With ``negation_scope`` the bag hashes what follows 不 / 没 apart, and a handful of
    reviews that deny other faults teach it: "没失望" reads positive although "失望" is
    negative and no review denies it (without the scope both read negative, 0.57 and 0.74 when
    written: the evidence of 失望 and 垃圾)."""
    rng = random.Random(11)
    reviews = tmp_path / "negation.jsonl"
    with reviews.open("w", encoding="utf-8") as fh:
        for i in range(80):
            fault, virtue = rng.choice(["坏了", "退货", "太差"]), rng.choice(["喜欢", "满意", "推荐"])
            positive = i % 2 == 0
            # either negator on either side: 不 / 没 alone say nothing
            text = f"{rng.choice(FILLER[:6])}，{rng.choice('不没') + (fault if positive else virtue)}{i}"
            row = {"text": text, "label": "positive" if positive else "negative"}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    settings = _settings(toy_data, tmp_path / "neg")
    settings.labelled_reviews, settings.review_weight, settings.negation_scope = reviews, 3.0, 4
    report = train(settings, log=lambda _: None)
    config = json.loads((tmp_path / "neg" / "config.json").read_text())
    # the negators the vocabulary holds (不 and 没 here) and its punctuation
    assert config["negation_scope"] == 4 and len(config["negator_ids"]) == 2 and config["break_ids"]
    assert report["settings"]["labelled_reviews"] == str(reviews)  # type: ignore[index]
    clf = TransformerClassifier(tmp_path / "neg", quantize=False, threads=1)
    texts = ["说实话，没失望", "说实话，失望", "包装，没垃圾", "包装，垃圾"]
    denied, plain, denied_too, plain_too = clf.classify(texts)
    assert denied.negative < 0.5 < plain.negative
    assert denied_too.negative < 0.5 < plain_too.negative


def test_another_seed_gives_another_model(
    toy_data: Path, first: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    train(_settings(toy_data, tmp_path / "c", seed=4), log=lambda _: None)
    wa = load_file(str(first[0] / "model.safetensors"))
    wc = load_file(str(tmp_path / "c" / "model.safetensors"))
    assert any(not bool((wa[k] == wc[k]).all()) for k in wa)


def test_idf_linear_head_is_fitted_first(toy_data: Path, tmp_path: Path) -> None:
    """The shipped recipe: the n-gram bag is IDF-weighted, its sentiment column starts as the
    fitted TF-IDF logistic regression and training goes on from there (the topic columns and
    the encoder learn too)."""
    import torch

    from sentinel.nlp.modeling import SentinelModel
    from sentinel.nlp.train import _fit_idf, _fit_linear_head

    settings = _settings(toy_data, tmp_path / "idf")
    assert settings.linear_init == 4.0
    train(settings, log=lambda _: None)
    model = SentinelModel.from_pretrained(str(tmp_path / "idf")).float()
    idf = model.idf
    assert int((idf > 0).sum()) > 50  # n-grams in two or more texts
    assert int((idf == 0).sum()) > 0  # one-off n-grams (the row numbers) and empty buckets

    # Refit from scratch with the same data: the saved column equals the fit (up to fp16).
    from sentinel.nlp.data import load_corpora, split_of
    from sentinel.nlp.taxonomy import load_taxonomy
    from sentinel.nlp.text import CharTokenizer
    from sentinel.nlp.train import _encode_examples

    taxonomy = load_taxonomy(settings.taxonomy)
    examples = [e for e in load_corpora(settings.data, taxonomy) if split_of(e.text) == "train"]
    tok = CharTokenizer.build((e.text for e in examples), emoticon_min_count=settings.emoticon_min_count)
    enc = _encode_examples(examples, tok, taxonomy, settings.max_length, None)
    fresh = SentinelModel(model.config)
    assert _fit_idf(fresh, tok, enc) > 50
    assert torch.allclose(fresh.idf, idf, atol=1e-2)
    accuracy = _fit_linear_head(fresh, tok, enc, 4.0)
    assert accuracy > 0.9
    fitted, trained = fresh.linear.weight[:, 0].detach(), model.linear.weight[:, 0].detach()
    # trained on from the fit, not from zero: the column still points the fit's way
    assert float(torch.nn.functional.cosine_similarity(fitted, trained, dim=0)) > 0.5
    assert float(model.linear.weight[:, 1:].detach().abs().sum()) > 0  # topic columns trained
    clf = TransformerClassifier(tmp_path / "idf", quantize=True, threads=1)
    scores = clf.classify(["太差，失望", "很好，推荐"])
    assert scores[0].negative > 0.5 > scores[1].negative


def test_emoticons_get_their_own_head(tmp_path: Path) -> None:
    """Posts whose label only an emoticon tells (as Weibo's): the emoticons become tokens,
    the bag-of-emoticons head learns them, and it counts an emoticon once however often it
    is repeated. With ``emoticon_min_count = 0`` the model has no such head (older models)."""
    import dataclasses

    import torch

    from sentinel.nlp.modeling import SentinelModel
    from sentinel.nlp.text import CharTokenizer

    rng = random.Random(5)
    data = tmp_path / "data"
    data.mkdir()
    neutral = ["今天", "出门", "看到", "这个", "大家", "周末", "下午", "朋友"]
    with (data / "toy_weibo.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(320):
            negative = i % 2 == 0
            text = "".join(rng.sample(neutral, 3)) + ("[怒]" if negative else "[鼓掌]") + f"{i}"
            label = "negative" if negative else "positive"
            fh.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    settings = dataclasses.replace(_settings(data, tmp_path / "emo"), epochs=3)
    train(settings, log=lambda _: None)
    config = json.loads((tmp_path / "emo" / "config.json").read_text(encoding="utf-8"))
    assert config["emoticons"] == 2
    model = SentinelModel.from_pretrained(tmp_path / "emo")
    assert model.emoticon is not None
    tok = CharTokenizer.load(tmp_path / "emo")
    first = model.config.vocab_size - 2
    weights = model.emoticon.detach()
    angry_w, clap_w = (float(weights[tok.emoticons[e] - first, 0]) for e in ("[怒]", "[鼓掌]"))
    assert angry_w > 0.5 and clap_w < -0.5  # fitted by logistic regression: they decide the label
    assert float(weights[:, 1:].abs().sum()) == 0  # held fixed in training: topics untouched
    clf = TransformerClassifier(tmp_path / "emo", quantize=True, threads=1)
    angry, clapping = clf.classify(["周末朋友[怒]", "周末朋友[鼓掌]"])
    assert angry.negative > 0.5 > clapping.negative
    ids = torch.tensor([[2, model.config.vocab_size - 1, 0], [2, model.config.vocab_size - 1, model.config.vocab_size - 1]])
    once, twice = model.emoticon_logits(ids)
    assert torch.equal(once, twice)
    assert torch.equal(model.emoticon_logits(torch.tensor([[2, 5, 0]])), torch.zeros(1, 12))

    # learnt with the rest instead of fitted and frozen: the topic columns move too
    train(dataclasses.replace(settings, out=tmp_path / "learnt", emoticon_c=0.0, freeze_emoticons=False), log=lambda _: None)
    learnt = SentinelModel.from_pretrained(tmp_path / "learnt")
    assert learnt.emoticon is not None and float(learnt.emoticon[:, 1:].detach().abs().sum()) > 0

    train(dataclasses.replace(settings, out=tmp_path / "plain", emoticon_min_count=0), log=lambda _: None)
    plain = SentinelModel.from_pretrained(tmp_path / "plain")
    assert plain.config.emoticons == 0 and plain.emoticon is None


def test_emoticon_head_is_left_at_zero_when_its_texts_share_one_label() -> None:
    """Nothing to fit when every post with an emoticon has the same label (or none has one)."""
    import numpy as np
    import torch

    from sentinel.nlp.modeling import SentinelConfig, SentinelModel
    from sentinel.nlp.train import _Encoded, _fit_emoticon_head

    config = SentinelConfig(
        vocab_size=12, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        ngram_buckets=64, ngram_dim=4, linear_buckets=64, topic_labels=["a"], emoticons=2, stride=1,
    )
    model = SentinelModel(config)

    def row(ids: list[int], negative: int) -> _Encoded:
        return _Encoded(ids, None, None, negative, np.zeros(1, dtype=np.float32), float(negative))

    same = [row([2, 5, 10], 1), row([2, 11, 6], 1), row([2, 5, 6], 0)]
    assert _fit_emoticon_head(model, same, 4.0) is None
    assert model.emoticon is not None and float(model.emoticon.detach().abs().sum()) == 0
    mixed = [*same, row([2, 11, 7], 0), row([2, 11, 8], 0)]
    assert _fit_emoticon_head(model, mixed, 4.0) == 0.75  # id 11: one negative, two positive posts
    weights = model.emoticon.detach()[:, 0]
    assert float(weights[0]) > float(weights[1])  # id 10 only in a negative post
    assert torch.equal(model.emoticon.detach()[:, 1:], torch.zeros(2, 1))


def test_sentinel_train_defaults_are_the_shipped_recipe() -> None:
    """``sentinel train`` with no options trains the shipped model's recipe: every option is
    the setting of the same name, and every default is what models/default was trained with
    (its training_report.json); the model config defaults match the shipped config."""
    import dataclasses
    import inspect

    from sentinel.nlp.commands import train_command
    from sentinel.nlp.modeling import SentinelConfig

    shipped = json.loads((REPO / "models" / "default" / "training_report.json").read_text())["settings"]
    options = inspect.signature(train_command).parameters
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    assert set(options) <= fields
    defaults = TrainSettings(data=Path("d"), out=Path("o"), taxonomy=Path("t"))
    for name in sorted(fields - {"data", "out", "taxonomy", "progress"}):
        assert _jsonable(getattr(defaults, name)) == shipped[name], name
        if name in options:
            cli = options[name].default
            cli = cli * 60.0 if name == "time_budget" else cli
            assert _jsonable(cli) == shipped[name], name
    # what the shipped recipe fixed, and is no longer a setting: the model config records it
    model = json.loads((REPO / "models" / "default" / "config.json").read_text())
    config = SentinelConfig()
    assert (config.stride, config.linear_idf) == (model["stride"], model["linear_idf"]) == (3, True)


def test_a_model_with_the_earlier_unweighted_linear_head_is_refused() -> None:
    """The un-weighted n-gram bag (``linear_idf = false``) went with issue 20: such a model
    directory is refused with what to do, not run with an IDF of ones."""
    from sentinel.nlp.modeling import SentinelConfig, SentinelModel

    config = SentinelConfig(
        vocab_size=10,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
        ngram_buckets=16,
        ngram_dim=4,
        linear_buckets=16,
        linear_idf=False,
    )
    with pytest.raises(ValueError, match="retrain"):
        SentinelModel(config)


def test_validation_reads_a_post_as_the_classifier_does(tmp_path: Path) -> None:
    # short posts teach the verdict words; in the long ones the verdict comes after 128
    # characters, past what any encoder here reads: only the bags see it, and they read the
    # whole text in validation as the classifier does
    from sentinel.nlp.data import load_corpora, split_of

    data = tmp_path / "data"
    data.mkdir()
    rng = random.Random(5)
    plain = [w for w in FILLER if not w.startswith("[")]
    with (
        (data / "toy_short.jsonl").open("w", encoding="utf-8") as short,
        (data / "toy_long.jsonl").open("w", encoding="utf-8") as long,
    ):
        for i in range(600):
            negative = i % 2 == 0
            verdict = "，".join(rng.sample(NEGATIVE if negative else POSITIVE, 2))
            label = "negative" if negative else "positive"
            if i % 3:
                text, fh = f"{verdict}，{rng.choice(plain)}{rng.randrange(1000)}", short
            else:
                text, fh = (
                    f"第{rng.randrange(1000)}条，" + "，".join(rng.choices(plain, k=40)) + f"，{verdict}",
                    long,
                )
            fh.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    out = tmp_path / "model"
    report = train(_settings(data, out), log=lambda _: None)
    val = [e for e in load_corpora(data) if split_of(e.text) == "val" and e.corpus == "toy_long"]
    assert val and min(len(e.text) for e in val) > 140
    validation = report["validation"]
    assert isinstance(validation, dict)
    assert validation["toy_long"] > 0.9  # cut at the encoder's window it would be a coin toss
    clf = TransformerClassifier(out, quantize=False, threads=1)
    read = [s.negative > 0.5 for s in clf.classify([e.text for e in val])]
    assert sum(r == bool(e.negative) for r, e in zip(read, val, strict=True)) / len(val) > 0.9


def test_a_missing_negation_reviews_file_is_a_clear_error(toy_data: Path, tmp_path: Path) -> None:
    settings = _settings(toy_data, tmp_path / "m")
    settings.labelled_reviews = tmp_path / "nowhere.jsonl"
    with pytest.raises(ValueError, match=r"nowhere\.jsonl: no such file.*--review-weight 0"):
        train(settings, log=lambda _: None)
    settings.review_weight = 0.0  # none asked for: the file is not read
    train(settings, log=lambda _: None)
    assert (tmp_path / "m" / "model.safetensors").is_file()
