"""Before/after tests: real effects are called, noise is not."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from sentinel.alerting.responses import ResponseEvent, evaluate_effect
from sentinel.alerting.stats import bootstrap_mean_diff, rate_ratio, two_proportions, wilson
from sentinel.post import Author, Post, ScoredPost
from sentinel.times import parse_when

from .conftest import T0, H


def test_two_proportions_known_values() -> None:
    c = two_proportions("neg", 60, 100, 40, 100)
    assert c.change == pytest.approx(-0.2)
    # pooled z = 0.2 / sqrt(0.5 * 0.5 * 0.02) = 2.828 -> p = 0.00468
    assert c.p_value == pytest.approx(0.00468, abs=1e-4)
    assert c.low < -0.06 and c.high < 0 and c.direction == "down"
    flat = two_proportions("neg", 50, 100, 46, 100)
    assert flat.direction == "no clear change" and flat.low < 0 < flat.high
    assert wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12) and 0.2 < wilson(0, 10)[1] < 0.35


def test_rate_ratio_exact_test() -> None:
    same = rate_ratio("v", 10, 3600, 10, 3600)
    assert same.p_value == pytest.approx(1.0) and same.direction == "no clear change"
    drop = rate_ratio("v", 60, 3600, 10, 3600)
    assert drop.change == pytest.approx(1 / 6) and drop.direction == "down" and drop.p_value < 1e-6
    assert drop.high < 1
    # different window lengths: rates, not counts, are compared
    assert rate_ratio("v", 10, 3600, 20, 7200).direction == "no clear change"
    assert rate_ratio("v", 0, 3600, 0, 3600).change is None


def test_bootstrap_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 0.1, 200), rng.normal(0.45, 0.1, 200)
    first, second = bootstrap_mean_diff("m", a, b), bootstrap_mean_diff("m", a, b)
    assert first == second
    assert first.low < first.change < first.high


def _stream(per_hour_before: list[int], per_hour_after: list[int], neg_every: int = 2) -> list[ScoredPost]:
    posts = []
    for sign, counts in ((-1, per_hour_before), (1, per_hour_after)):
        for h, n in enumerate(counts):
            start = T0 + (h * H if sign > 0 else -(len(counts) - h) * H)
            for k in range(n):
                i = len(posts)
                p = Post(
                    "weibo",
                    f"s{i}",
                    f"艾克美 {i}",
                    start + k * timedelta(seconds=3600 / max(n, 1)),
                    Author(f"u{i}"),
                )
                neg = i % neg_every == 0
                posts.append(ScoredPost(p, 0.9 if neg else 0.2, "negative" if neg else "neutral"))
    return posts


def test_noise_is_not_sold_as_effect() -> None:
    # a steady stream wobbling between 40 and 70 posts an hour, half negative, a statement in the middle
    posts = _stream([50, 70, 40, 60, 50, 60], [60, 40, 50, 70, 50, 40])
    response = ResponseEvent(1, "acme", T0, "statement")
    effect = evaluate_effect(response, posts, [], now=T0 + 24 * H)
    assert effect.verdict == "no clear effect"
    assert {c.metric: c.direction for c in effect.comparisons} == {
        "negative posts (posts/h)": "no clear change",
        "volume (posts/h)": "no clear change",
        "negative share": "no clear change",
        "mean P(negative)": "no clear change",
    }


def test_too_early_to_tell() -> None:
    response = ResponseEvent(1, "acme", T0, "apology")
    effect = evaluate_effect(response, _stream([5], [1]), [], now=T0 + timedelta(minutes=3))
    assert effect.comparisons == [] and effect.note and "too early" in effect.note
    assert effect.verdict == "too early"


def test_parse_when() -> None:
    assert parse_when("now-6h", T0) == T0 - 6 * H
    assert parse_when("2026-11-28T08:00:00+08:00", T0) == T0
    with pytest.raises(ValueError, match="offset"):
        parse_when("2026-11-28T08:00:00", T0)
