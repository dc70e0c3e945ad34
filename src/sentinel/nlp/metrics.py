"""Classification metrics without a scikit-learn dependency at inference time."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["binary_pr", "sentiment_metrics"]

CLASSES = ("negative", "neutral", "positive")


def sentiment_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, object]:
    """Accuracy, macro-F1 over the classes seen, and a confusion matrix gold -> predicted.

    ``neutral`` predictions count as wrong for binary gold labels; the confusion matrix shows
    how many posts the neutral band absorbed.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    labels = [c for c in CLASSES if c in set(gold) | set(predicted)]
    confusion = {g: {p: 0 for p in labels} for g in labels}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    correct = sum(confusion[c][c] for c in labels)
    f1s = []
    for c in labels:  # like scikit-learn: every label in gold or predicted
        tp = confusion[c][c]
        fp = sum(confusion[g][c] for g in labels) - tp
        fn = sum(confusion[c].values()) - tp
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {
        "n": len(gold),
        "accuracy": correct / len(gold) if gold else 0.0,
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "confusion": confusion,
    }


def binary_pr(gold: Sequence[bool], predicted: Sequence[bool]) -> dict[str, float]:
    tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g and p)
    fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p and not g)
    fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": float(tp + fn)}
