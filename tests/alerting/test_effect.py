"""``response effect`` against the crisis's own course: decay is not sold as effect.

A cheap version of ``bench/effect_placebo.py`` (few trials, loose bounds that the old
before/after comparison fails), and the cases issue 23 names: a response when nothing
happened, a daemon stopped 40 s after a response, a window under 10 minutes.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from sentinel.alerting.responses import ResponseEvent, evaluate_effect
from sentinel.post import Author, Post, ScoredPost

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import effect_placebo

T0 = datetime(2026, 11, 28, tzinfo=UTC)


def test_placebo_and_halving_on_simulated_crises() -> None:
    """Natural decay with a response that did nothing is rarely called effective; halving
    the negative rate mostly is. The old before/after test calls most placebos "down"."""
    result = effect_placebo.run(24, seed=5, window=timedelta(hours=6))
    placebo, halving = result["placebo"], result["halving"]
    assert isinstance(placebo, dict) and isinstance(halving, dict)
    assert placebo["effective"] <= 5  # 6.8 % measured over 400 trials: 5 / 24 is far out
    assert halving["effective"] >= 12  # 76.7 % measured
    assert placebo["old_method_down"] >= 10  # the old method cannot tell decay from effect


def _steady(start: datetime, minutes: int, per_minute: float, negative: float, seed: int) -> list[ScoredPost]:
    rng = np.random.default_rng(seed)
    out = []
    for m in range(minutes):
        for k in range(rng.poisson(per_minute)):
            when = start + timedelta(minutes=m, seconds=float(rng.uniform(0, 60)))
            neg = bool(rng.random() < negative)
            post = Post("weibo", f"{seed}-{m}-{k}", "艾克美", when, Author(f"u{m}{k}"))
            out.append(ScoredPost(post, 0.9 if neg else 0.2, "negative" if neg else "neutral"))
    return out


def test_a_response_when_nothing_happened_is_not_effective() -> None:
    # calm for 6 h, a made-up statement, then a crisis starts an hour later
    calm = _steady(T0, 6 * 60, 1.0, 0.1, 1)
    crisis = _steady(T0 + timedelta(hours=7), 3 * 60, 8.0, 0.7, 2)
    response = ResponseEvent(1, "acme", T0 + timedelta(hours=6), "statement")
    effect = evaluate_effect(
        response,
        [*calm, *_steady(T0 + timedelta(hours=6), 60, 1.0, 0.1, 3), *crisis],
        [],
        now=T0 + timedelta(hours=12),
    )
    assert effect.verdict in ("no clear effect", "higher than expected")
    assert all(c.direction != "down" for c in effect.comparisons)


def test_a_daemon_stopped_40_s_after_the_response_is_too_early() -> None:
    at = T0 + timedelta(hours=6)
    posts = [
        sp for sp in _steady(T0, 6 * 60 + 1, 5.0, 0.5, 4) if sp.post.created_at < at + timedelta(seconds=40)
    ]
    effect = evaluate_effect(
        ResponseEvent(1, "acme", at, "apology"),
        posts,
        [],
        now=at + timedelta(hours=3),
        data_until=at + timedelta(seconds=40),
    )
    assert effect.verdict == "too early" and effect.comparisons == []
    assert effect.note is not None and "40 s of data" in effect.note


def test_a_window_under_ten_minutes_answers_when_the_data_suffice() -> None:
    # 5-minute windows on a busy watch: 30 posts a minute, half negative, the negative ones
    # stop at the response
    at = T0 + timedelta(minutes=10)
    before = _steady(T0, 10, 30.0, 0.5, 5)
    after = [sp for sp in _steady(at, 5, 30.0, 0.5, 6) if sp.label != "negative"]
    effect = evaluate_effect(
        ResponseEvent(1, "acme", at, "recall"),
        [*before, *after],
        [],
        now=at + timedelta(minutes=5),
        window=timedelta(minutes=5),
    )
    assert effect.interval is not None and effect.interval < timedelta(minutes=1)
    assert effect.verdict == "effective"
    steady = evaluate_effect(
        ResponseEvent(1, "acme", at, "recall"),
        [*before, *_steady(at, 5, 30.0, 0.5, 7)],
        [],
        now=at + timedelta(minutes=5),
        window=timedelta(minutes=5),
    )
    assert steady.verdict == "no clear effect"


def test_mentions_are_counted_after_only() -> None:
    # before the clarification everyone demands one ("出来辟谣啊"); after it, fewer mention it
    at = T0 + timedelta(hours=6)
    posts = []
    for i, sp in enumerate(_steady(T0, 8 * 60, 3.0, 0.5, 8)):
        text = (
            "艾克美出来辟谣啊" if sp.post.created_at < at else ("艾克美辟谣了" if i % 10 == 0 else "艾克美")
        )
        posts.append(
            ScoredPost(
                Post("weibo", sp.post.id, text, sp.post.created_at, sp.post.author), sp.negative, sp.label
            )
        )
    effect = evaluate_effect(
        ResponseEvent(1, "acme", at, "clarification"), posts, [], now=at + timedelta(hours=6)
    )
    assert "share mentioning the response" not in {c.metric for c in effect.comparisons}
    assert effect.mentions is not None and 0 < effect.mentions < effect.posts_after
