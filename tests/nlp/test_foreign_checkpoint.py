"""Any local sequence-classification checkpoint loads, with a label mapping from config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

from sentinel.nlp import build_classifier
from sentinel.nlp.transformer import TransformerClassifier


def _make_checkpoint(directory: Path, labels: int, id2label: dict[int, str] | None = None) -> Path:
    chars = "差好坏很不服务快递质量"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    directory.mkdir()
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label=id2label or {i: f"LABEL_{i}" for i in range(labels)},
        label2id={v: k for k, v in (id2label or {i: f"LABEL_{i}" for i in range(labels)}).items()},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(directory)
    return directory


def _reference(directory: Path, texts: list[str]) -> torch.Tensor:
    tok = BertTokenizer.from_pretrained(directory)
    model = BertForSequenceClassification.from_pretrained(directory).eval()
    with torch.inference_mode():
        return torch.softmax(model(**tok(texts, padding=True, return_tensors="pt")).logits, -1)


def _cfg(model: Path, label_map: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(
        type="transformer",
        model=str(model),
        threads=1,
        batch_size=8,
        max_length=32,
        quantize=False,
        label_map=label_map,
    )


def test_label_map_by_name(tmp_path: Path) -> None:
    ckpt = _make_checkpoint(tmp_path / "ckpt", 2)
    texts = ["服务很差", "质量很好", "快递"]
    clf = build_classifier(_cfg(ckpt, {"LABEL_0": "positive", "LABEL_1": "negative"}))
    got = [s.negative for s in clf.classify(texts)]
    assert got == pytest.approx(_reference(ckpt, texts)[:, 1].tolist(), abs=1e-5)
    assert all(s.topics == {} for s in clf.classify(texts))


def test_label_map_by_index_with_neutral(tmp_path: Path) -> None:
    ckpt = _make_checkpoint(tmp_path / "ckpt", 3)
    texts = ["服务很差", "质量很好"]
    clf = build_classifier(_cfg(ckpt, {"0": "negative", "1": "neutral", "2": "positive"}))
    probs = _reference(ckpt, texts)
    expected = (probs[:, 0] + probs[:, 1] / 2).tolist()
    assert [s.negative for s in clf.classify(texts)] == pytest.approx(expected, abs=1e-5)


def test_named_labels_need_no_map(tmp_path: Path) -> None:
    ckpt = _make_checkpoint(tmp_path / "ckpt", 2, {0: "negative", 1: "positive"})
    clf = TransformerClassifier(ckpt, quantize=True, threads=1)
    probs = _reference(ckpt, ["质量很差"])[:, 0].tolist()
    assert clf.classify(["质量很差"])[0].negative == pytest.approx(probs[0], abs=0.05)


def test_generic_labels_without_a_map_are_refused(tmp_path: Path) -> None:
    ckpt = _make_checkpoint(tmp_path / "ckpt", 2)
    with pytest.raises(ValueError, match="label_map"):
        TransformerClassifier(ckpt, quantize=False)


def test_missing_directory_names_the_paths_tried(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model"):
        TransformerClassifier(tmp_path / "nowhere")
