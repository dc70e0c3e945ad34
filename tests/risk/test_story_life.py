"""What the spread indicator sets a story against: the watch's usual story peak, the story's
recent posts (a day-old lookalike it joined does not make it old), and the strongest candidate
rather than the largest."""

from __future__ import annotations

import math

import pytest

from sentinel.config import WatchConfig
from sentinel.risk.options import EngineOptions, WatchOptions
from sentinel.risk.score import story_strength
from sentinel.risk.stories import LIFE_TAU, Story
from sentinel.risk.watch import STORY_NORM_MIN_HOURS, StoryLife, StoryNorm, WatchState

HOUR = 3600.0


def test_story_norm_is_the_mean_hourly_peak_once_a_day_is_known() -> None:
    norm = StoryNorm()
    t0 = 1_000 * HOUR
    for h in range(STORY_NORM_MIN_HOURS):
        # two ticks an hour: the hour's peak is the larger
        norm.note(t0 + h * HOUR, 1.0, frozen=False)
        norm.note(t0 + h * HOUR + 1800, 3.0 if h % 2 else 1.0, frozen=False)
        assert norm.expected() is None  # the hour in progress is not closed yet
    norm.note(t0 + STORY_NORM_MIN_HOURS * HOUR, 0.0, frozen=False)
    assert norm.expected() == pytest.approx(2.0)


def test_hours_with_an_alert_open_do_not_teach_the_norm() -> None:
    norm = StoryNorm()
    t0 = 2_000 * HOUR
    for h in range(STORY_NORM_MIN_HOURS + 1):
        norm.note(t0 + h * HOUR, 1.0, frozen=False)
    norm.note(t0 + 30 * HOUR, 80.0, frozen=True)  # a crisis hour
    norm.note(t0 + 31 * HOUR, 1.0, frozen=False)
    assert norm.expected() == pytest.approx(1.0)


def test_a_story_fades_with_its_time_constant() -> None:
    story = Story(id="s", first_ts=0.0, last_ts=0.0)
    for _ in range(10):
        story.add_recent(100.0)
    assert story.recent_at(100.0) == pytest.approx(10.0)
    assert story.recent_at(100.0 + LIFE_TAU) == pytest.approx(10.0 / math.e)
    story.add_recent(100.0 + LIFE_TAU)
    assert story.recent_at(100.0 + LIFE_TAU) == pytest.approx(10.0 / math.e + 1.0)


def _watch_with_a_day(level: float) -> WatchState:
    watch = WatchState.from_config(WatchConfig(name="w", query="鹿岭"), WatchOptions(), EngineOptions())
    t0 = 3_000 * HOUR
    for h in range(30):
        for i in range(int(level)):
            watch.baseline.add(t0 + h * HOUR + i, 1.0, 0.2)
    watch.baseline.roll(t0 + 30 * HOUR)
    return watch


def test_a_dark_cascade_is_not_hidden_by_a_larger_cheerful_story() -> None:
    watch = _watch_with_a_day(level=20.0)
    now = 3_000 * HOUR + 31 * HOUR
    lives = {
        "cheer": StoryLife(tone=0.05, size=300.0, age=20 * HOUR, root_followers=10),
        "dark": StoryLife(tone=0.8, size=60.0, age=1800.0, root_followers=10),
    }
    ind, _ = watch.indicators(now, EngineOptions(), {}, lives)
    assert ind.life_story == "dark"
    assert ind.life_posts == 60.0


def test_story_strength_needs_both_size_and_a_darker_tone() -> None:
    assert story_strength(40.0, 0.8, 2.0, 4.0, 0.2) > 0.9
    assert story_strength(40.0, 0.2, 2.0, 4.0, 0.2) == 0.0  # as cheerful as usual
    assert story_strength(3.0, 0.9, 2.0, 4.0, 0.2) == 0.0  # a handful is chance
