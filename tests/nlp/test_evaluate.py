"""`sentinel evaluate` and its metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.nlp.metrics import binary_pr, sentiment_metrics

from .conftest import MODEL_DIR
from .test_classify_cli import _app


def test_sentiment_metrics_match_hand_computation() -> None:
    gold = ["negative", "negative", "positive", "positive"]
    predicted = ["negative", "positive", "positive", "positive"]
    m = sentiment_metrics(gold, predicted)
    assert m["accuracy"] == 0.75
    # F1(negative) = 2/3, F1(positive) = 4/5
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["confusion"] == {
        "negative": {"negative": 1, "positive": 1},
        "positive": {"negative": 0, "positive": 2},
    }


def test_macro_f1_counts_classes_only_predicted() -> None:
    m = sentiment_metrics(["negative"] * 4, ["negative", "negative", "negative", "positive"])
    assert m["macro_f1"] == pytest.approx((6 / 7 + 0.0) / 2)


def test_binary_pr() -> None:
    assert binary_pr([True, True, False], [True, False, True]) == {
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "support": 2.0,
    }


def test_evaluate_command_reports_accuracy_confusion_and_throughput(tmp_path: Path) -> None:
    rows = [
        {"text": "质量太差了，再也不买", "label": "negative"},
        {"text": "非常满意，推荐购买", "label": "positive"},
        {"text": "客服态度恶劣", "label": "negative"},
        {"text": "物流很快，包装很好", "label": "positive"},
    ]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(
        _app(), ["evaluate", "--data", str(data), "--model", str(MODEL_DIR), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["data"]
    assert report["n"] == 4 and report["accuracy"] == 1.0 and report["macro_f1"] == 1.0
    assert report["posts_per_s"] > 0
    assert report["confusion"]["negative"]["negative"] == 2
