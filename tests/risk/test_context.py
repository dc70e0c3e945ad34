"""A repost read with what it reposts (sentinel.risk.context): one rule for engine and CLI."""

from __future__ import annotations

import pytest

from sentinel.risk.context import SERIOUS, in_context, negativity, repost_negativity


def test_negativity_scale() -> None:
    assert [negativity(p) for p in (0.2, 0.5, 0.65, 0.8, 0.99)] == pytest.approx([0, 0, 0.5, 1, 1])


def test_a_bare_repost_spreads_the_story_and_says_nothing_itself() -> None:
    assert repost_negativity(0.53, root=1.0, tone=0.2, bare=True) == pytest.approx(0.8)
    assert repost_negativity(0.53, root=0.0, tone=0.6, bare=True) == pytest.approx(0.6)
    assert repost_negativity(0.53, root=0.0, tone=0.0, bare=True) == 0.0
    assert in_context("转发微博", own=0.66, context=0.93) == 0.93
    assert in_context("//@某人: 太可怕了", own=0.9, context=0.2) == 0.2  # a chain only is bare


def test_words_count_half_in_a_calm_story_and_a_complaint_spreads() -> None:
    assert repost_negativity(1.0, root=0.0, tone=0.0, bare=False) == pytest.approx(0.5)
    assert repost_negativity(1.0, root=1.0, tone=0.0, bare=False) == pytest.approx(1.0)
    assert repost_negativity(0.0, root=1.0, tone=0.0, bare=False) == pytest.approx(0.8)
    assert in_context("哈哈", own=0.1, context=0.95) == pytest.approx(0.74)  # a laugh under a scandal
    assert in_context("支持", own=0.1, context=0.2) == 0.1  # keeps the model's reading


def test_taking_the_post_seriously_is_a_negative_voice() -> None:
    assert repost_negativity(0.0, root=0.0, tone=0.0, bare=False, serious=SERIOUS) == SERIOUS
    assert in_context("真的假的？", own=0.4, context=0.3) == pytest.approx(0.5 + 0.3 * SERIOUS)
    assert in_context("真的假的？", own=0.4, context=0.3, serious=0) == 0.4
