"""One watch's rolling window state, kept incrementally in event time.

Posts enter in event-time order (the engine sorts them); each window keeps running sums
that are added to on entry and subtracted on expiry, so memory and work are bounded by the
window, not by the stream.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

from sentinel.config import LEVELS, WatchConfig
from sentinel.risk.baseline import SeasonalBaseline
from sentinel.risk.levels import LevelState
from sentinel.risk.options import EngineOptions, WatchOptions
from sentinel.risk.query import Query, parse_query
from sentinel.risk.score import Indicators, Score, risk_score, story_strength
from sentinel.risk.stories import LIFE_TAU
from sentinel.risk.window import Entry, TimedFifo, Window

__all__ = ["BIG_STORY", "Entry", "StoryLife", "WatchState"]

BIG_STORY = 10  # posts from which a story's whole life is scored (WatchState.big_stories)


class StoryLife(NamedTuple):
    """What the spread indicators need of a story the engine keeps."""

    tone: float
    size: float  # its posts, older ones faded (Story.recent_at)
    age: float  # seconds since its first post
    root_followers: int
    rumour: float = 0.0  # how much it reads like a rumour, 0..1 (RumourModel.strength)


def _add(d: dict[str, int], k: str) -> None:
    d[k] = d.get(k, 0) + 1


def _sub(d: dict[str, int], k: str) -> None:
    n = d[k] - 1
    if n:
        d[k] = n
    else:
        del d[k]


def _faded_span(age: float) -> float:
    """The seconds of the watch's usual traffic to set against a story's faded count: its age,
    at least ten minutes, fading like the count (LIFE_TAU)."""
    age = max(age, 600.0)
    return LIFE_TAU * -math.expm1(-age / LIFE_TAU)


STORY_NORM_HOURS = 14 * 24  # the past hours whose story peaks make the norm
STORY_NORM_MIN_HOURS = 24  # and how many it needs before it counts


@dataclass(slots=True)
class StoryNorm:
    """How many posts the watch's largest story usually has in the short window: the mean of
    the peaks of past hours (hours with an alert open are left out, as from the baseline).

    A cascade is judged against this rather than against the whole watch's traffic: for a
    brand with forty independent posts an hour, ten posts of one story in ten minutes are
    extraordinary, though ten posts in all would not be."""

    hour: int = -1
    peak: float = 0.0
    frozen: bool = False
    peaks: deque[float] = field(default_factory=deque)
    total: float = 0.0

    def note(self, now: float, peak: float, frozen: bool) -> None:
        hour = int(now // 3600)
        if hour != self.hour:
            if self.hour >= 0 and not self.frozen:
                self.peaks.append(self.peak)
                self.total += self.peak
                if len(self.peaks) > STORY_NORM_HOURS:
                    self.total -= self.peaks.popleft()
            self.hour, self.peak, self.frozen = hour, 0.0, False
        self.peak = max(self.peak, peak)
        self.frozen = self.frozen or frozen

    def expected(self) -> float | None:
        if len(self.peaks) < STORY_NORM_MIN_HOURS:
            return None
        return max(self.total, 0.0) / len(self.peaks)


@dataclass(slots=True)
class WatchState:
    """Windows, baseline and alert level of one ``[[watch]]``."""

    name: str
    query: Query
    options: WatchOptions
    thresholds: dict[str, float]
    weights: dict[str, float]
    min_voices: dict[str, int]
    short: float
    vel_window: float
    entries: Window = field(default_factory=Window)
    posts: float = 0.0
    negative: float = 0.0
    reach: float = 0.0
    severity: float = 0.0
    neg_strong: float = 0.0  # negative weight of the posts that count as negative
    neg_authors: dict[str, int] = field(default_factory=dict)
    kol_authors: dict[str, int] = field(default_factory=dict)
    author_posts: dict[str, int] = field(default_factory=dict)
    vel: deque[tuple[float, str, float]] = field(default_factory=deque)
    story_vel: dict[str, float] = field(default_factory=dict)
    story_n: dict[str, float] = field(default_factory=dict)  # each story's posts in the short window
    # stories of BIG_STORY posts or more with a post in the short window: the slow cascades
    # whose whole life, not their last minutes, is what is unusual
    big_stories: dict[str, None] = field(default_factory=dict)
    minutes: deque[list[float]] = field(default_factory=deque)  # [minute start, posts, negative]
    hour_negative: float = 0.0  # sum of the minutes' negative weight
    hour_posts: float = 0.0
    # distinct negative voices over the last hour (a slow burn has few per ten minutes)
    hour_voices: TimedFifo = field(default_factory=TimedFifo)
    hour_authors: dict[str, int] = field(default_factory=dict)
    baseline: SeasonalBaseline = field(default_factory=SeasonalBaseline)
    levels: LevelState = field(default_factory=LevelState)
    first_ts: float | None = None
    risk: float = 0.0
    story_norm: StoryNorm = field(default_factory=StoryNorm)

    @classmethod
    def from_config(cls, watch: WatchConfig, wopts: WatchOptions, eopts: EngineOptions) -> WatchState:
        thresholds = {**eopts.thresholds, **wopts.thresholds}
        values = [thresholds[level] for level in LEVELS]
        if values != sorted(values):
            raise ValueError(f"watch {watch.name!r}: thresholds must rise from blue to red")
        try:
            query = parse_query(watch.query)
        except ValueError as exc:
            raise ValueError(f"watch {watch.name!r}: query: {exc}") from None
        return cls(
            name=watch.name,
            query=query,
            options=wopts,
            thresholds=thresholds,
            weights={**eopts.weights, **wopts.weights},
            min_voices={**eopts.min_voices, **wopts.min_voices},
            short=eopts.short_window,
            vel_window=eopts.velocity_window,
            baseline=SeasonalBaseline(utc_offset=wopts.utc_offset),
        )

    # -- windows --------------------------------------------------------------------------

    def add(self, e: Entry) -> None:
        if self.first_ts is None:
            self.first_ts = e.ts
        self.entries.append(e)
        w = e.weight
        wn = w * e.negative
        self.posts += w
        self.negative += wn
        _add(self.author_posts, e.author)
        self.story_n[e.story] = self.story_n.get(e.story, 0.0) + 1.0
        v = e.voice
        if v is not None:  # negative (>= 0.5): the engine gives exactly these a voice
            self.reach += wn * v.followers
            self.severity += wn * v.severity
            self.neg_strong += wn
            _add(self.neg_authors, e.author)
            self.hour_voices.append(e.ts, e.author)
            _add(self.hour_authors, e.author)
            if v.kol:
                _add(self.kol_authors, e.author)
        self.add_velocity(e.ts, e.story, w)
        minute = e.ts - e.ts % 60
        if self.minutes and self.minutes[-1][0] >= minute:
            bucket = self.minutes[-1]
        else:
            bucket = [minute, 0.0, 0.0]
            self.minutes.append(bucket)
        bucket[1] += w
        bucket[2] += wn
        self.hour_negative += wn
        self.hour_posts += w
        self.baseline.add(e.ts, w, wn)

    def add_velocity(self, ts: float, story: str, amount: float) -> None:
        self.vel.append((ts, story, amount))
        self.story_vel[story] = self.story_vel.get(story, 0.0) + amount

    def expire(self, now: float) -> None:
        horizon = now - self.short
        entries = self.entries
        for e in entries.pop_before(horizon):
            w = e.weight
            self.posts -= w
            self.negative -= w * e.negative
            _sub(self.author_posts, e.author)
            left = self.story_n[e.story] - 1.0
            if left > 0.5:
                self.story_n[e.story] = left
            else:
                del self.story_n[e.story]
            v = e.voice
            if v is not None:
                self.reach -= w * e.negative * v.followers
                self.severity -= w * e.negative * v.severity
                self.neg_strong -= w * e.negative
                _sub(self.neg_authors, e.author)
                if v.kol:
                    _sub(self.kol_authors, e.author)
        if self.big_stories:
            for sid in [sid for sid in self.big_stories if sid not in self.story_n]:
                del self.big_stories[sid]
        if not entries:  # no drift: empty windows are exactly zero
            self.posts = self.negative = self.reach = self.severity = self.neg_strong = 0.0
        vel_horizon = now - self.vel_window
        while self.vel and self.vel[0][0] < vel_horizon:
            _, story, amount = self.vel.popleft()
            left = self.story_vel[story] - amount
            if left > 1e-9:
                self.story_vel[story] = left
            else:
                del self.story_vel[story]
        while self.minutes and self.minutes[0][0] < now - 3600:
            bucket = self.minutes.popleft()
            self.hour_posts -= bucket[1]
            self.hour_negative -= bucket[2]
        if not self.minutes:
            self.hour_negative = self.hour_posts = 0.0
        for author in self.hour_voices.pop_before(now - 3600):
            _sub(self.hour_authors, author)

    @property
    def idle(self) -> bool:
        return not self.entries and not self.vel and not self.hour_voices and self.levels.level == 0

    # -- indicators -----------------------------------------------------------------------

    def indicators(
        self,
        now: float,
        eopts: EngineOptions,
        story_negativity: dict[str, float],
        story_life: dict[str, StoryLife] | None = None,
    ) -> tuple[Indicators, str | None]:
        exp = self.baseline.expected(now, self.short)
        exp_1h = self.baseline.expected(now, 3600.0)
        base_share = self.baseline.negative_share
        if exp is None and self.first_ts is not None:
            # cold start: the minutes before the short window, once ten of them are known
            ref_end = now - self.short
            covered = ref_end - max(self.first_ts, now - 3600.0)
            if covered >= 600.0:
                ref_n = sum(b[1] for b in self.minutes if b[0] + 60 <= ref_end)
                ref_neg = sum(b[2] for b in self.minutes if b[0] + 60 <= ref_end)
                scale = self.short / covered
                exp = (ref_n * scale, ref_neg * scale)
                if ref_n >= 20 and base_share is None:
                    base_share = ref_neg / ref_n
        if base_share is None:
            base_share = eopts.prior_negative_share
        base_share = max(base_share, 0.05)
        neg_1h = max(self.hour_negative, 0.0)
        top, top_v, top_neg = None, 0.0, 0.0
        per_min = 60.0 / self.vel_window
        for sid, neg in story_negativity.items():
            amount = self.story_vel.get(sid, 0.0)
            v = amount * per_min
            if v * neg > top_v * top_neg or top is None:
                top, top_v, top_neg = sid, v, neg
        # the story that spreads most against the watch's usual traffic: its posts in the short
        # window (a cascade is one story however many reposts it has) and its tone; and the big
        # story whose whole life (size, age) is most unusual against the watch's hourly level.
        # Each is the candidate that scores highest, not the largest: a month-long cluster of
        # lookalike cheerful posts must not hide a dark cascade of forty reposts
        dispersion = self.baseline.dispersion(now)
        story_exp = None if exp is None else exp[0]
        norm = self.story_norm.expected()
        if story_exp is not None and norm is not None:
            story_exp = min(story_exp, norm)
        spread, spread_n, spread_tone, spread_f = None, 0.0, 0.0, -1.0
        life, life_n, life_span, life_tone, life_f = None, 0.0, 0.0, 0.0, -1.0
        spread_r = life_r = 0.0
        level = None if self.baseline.hours_seen == 0 else self.baseline.level_n
        for sid, story in (story_life or {}).items():
            n, tone = self.story_n.get(sid, 0.0), story.tone
            if n > 0:
                f = (
                    0.0
                    if story_exp is None
                    else story_strength(n, tone, story_exp, dispersion, base_share, story.rumour)
                )
                if (f, n * (0.5 + tone)) > (spread_f, spread_n * (0.5 + spread_tone)):
                    spread, spread_n, spread_tone, spread_f, spread_r = sid, n, tone, f, story.rumour
            if story.size >= BIG_STORY:
                expected = 0.0 if level is None else level * _faded_span(story.age) / 3600.0
                f = (
                    0.0
                    if level is None
                    else story_strength(story.size, tone, expected, dispersion, base_share, story.rumour)
                )
                if (f, story.size * (0.5 + tone)) > (life_f, life_n * (0.5 + life_tone)):
                    life, life_n, life_span, life_tone, life_f, life_r = (
                        sid,
                        story.size,
                        story.age,
                        tone,
                        f,
                        story.rumour,
                    )
        posts = max(self.posts, 0.0)
        negative = min(max(self.negative, 0.0), posts)
        ind = Indicators(
            posts=posts,
            negative=negative,
            voices=len(self.neg_authors),
            posts_1h=max(self.hour_posts, 0.0),
            voices_1h=len(self.hour_authors),
            expected_posts=None if exp is None else exp[0],
            expected_negative=None if exp is None else exp[1],
            negative_1h=neg_1h,
            expected_negative_1h=None if exp_1h is None else exp_1h[1],
            expected_posts_1h=None if exp_1h is None else exp_1h[0],
            share=negative / posts if posts > 0 else 0.0,
            base_share=base_share,
            velocity=top_v,
            velocity_negativity=top_neg,
            reach=max(self.reach, 0.0) + self._root_reach(spread, life, story_life or {}),
            kol=len(self.kol_authors),
            topic=self.severity / self.neg_strong if self.neg_strong > 1e-9 else 0.0,
            dispersion=dispersion,
            story_posts=spread_n,
            story_expected=story_exp,
            story_tone=spread_tone,
            story=spread,
            life_story=life,
            story_rumour=spread_r,
            life_rumour=life_r,
            life_posts=life_n,
            life_tone=life_tone,
            life_expected=None
            if self.baseline.hours_seen == 0
            else self.baseline.level_n * _faded_span(life_span) / 3600.0,
        )
        return ind, top

    def _root_reach(self, spread: str | None, life: str | None, story_life: dict[str, StoryLife]) -> float:
        """Followers of the original behind a negative spreading story: a cascade reaches its
        original author's audience as well as its reposters' (those count as voices already)."""
        total = 0.0
        for sid in {s for s in (spread, life) if s is not None}:
            story = story_life.get(sid)
            # while the original is in the short window it is counted with the voices already
            if story is not None and story.tone >= 0.5 and story.age >= self.short:
                total += story.tone * story.root_followers  # as a voice: followers x negativity
        return total

    def score(
        self,
        now: float,
        eopts: EngineOptions,
        story_negativity: dict[str, float],
        story_life: dict[str, StoryLife] | None = None,
    ) -> Score:
        ind, _top = self.indicators(now, eopts, story_negativity, story_life)
        return risk_score(ind, self.weights, velocity_saturation=eopts.velocity_saturation)

    def top_entries(self, n: int) -> list[Entry]:
        """The posts that matter most now: negative, far-reaching, in big stories."""
        sizes = self.story_n  # each story's entries in the window, kept up by add and expire
        ranked = sorted(
            self.entries.negatives(),
            key=lambda e: (
                -(e.negative * e.weight * (1 + math.log10(1 + e.followers)) * math.log2(1 + sizes[e.story])),
                e.key,
            ),
        )
        out: list[Entry] = []
        seen: set[str] = set()
        for e in ranked:  # one post per story first, then the rest
            if e.story not in seen:
                seen.add(e.story)
                out.append(e)
            if len(out) >= n:
                return out
        for e in ranked:
            if len(out) >= n:
                break
            if e not in out:
                out.append(e)
        return out

    def in_quiet_hours(self, now: float) -> bool:
        span = self.options.quiet_span()
        if span is None:
            return False
        local = datetime.fromtimestamp(now, UTC).astimezone(
            timezone(timedelta(hours=self.options.utc_offset))
        )
        t = local.time().replace(tzinfo=None)
        start, end = span
        return (start <= t < end) if start <= end else (t >= start or t < end)
