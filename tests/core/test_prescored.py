"""A recorded stream's own scores are reused by the backtest, the learnt neutral label with them."""

from __future__ import annotations

from sentinel.backtest import _prescored
from sentinel.post import Post, parse_post


def _post(sentiment: object) -> Post:
    return parse_post(
        {
            "platform": "weibo",
            "id": "1",
            "text": "已阅",
            "created_at": "2026-12-07T10:00:00+08:00",
            "author": {"id": "u1"},
            "sentiment": sentiment,
        }
    )


def test_a_recorded_neutral_label_survives_the_replay() -> None:
    # sentinel export records the label; sentinel classify also P(neutral)
    cases = [
        ({"label": "neutral", "negative": 0.1}, "neutral"),  # the model's learnt neutral class
        ({"label": "positive", "negative": 0.1}, "positive"),
        ({"negative": 0.1, "neutral": 0.8}, "neutral"),
        ({"negative": 0.1, "neutral": 0.2}, "positive"),
        ({"label": "neutral", "negative": 0.9}, "negative"),  # P(negative) says more
        ({"negative": 0.55}, "neutral"),  # the band: unsure
    ]
    for sentiment, label in cases:
        scored = _prescored(_post(sentiment), 0.15)
        assert scored is not None and scored.label == label, sentiment
    assert _prescored(_post({"label": "neutral"}), 0.15) is None  # no P(negative): scored afresh
