"""Risk-engine tuning: ``[risk]`` options and per-``[[watch]]`` options, with defaults.

Every value has a default, so a watch needs only a name and a query. See docs/risk.md for
what each one does. Durations accept ``"90s"``, ``"10m"``, ``"1h"`` or seconds.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from sentinel.config import LEVELS, RiskConfig, WatchConfig, parse_duration
from sentinel.risk.context import SERIOUS

__all__ = ["DEFAULT_WEIGHTS", "EngineOptions", "WatchOptions", "engine_options", "watch_options"]

Duration = Annotated[float, BeforeValidator(parse_duration)]

# anomaly factors (how unusual) then severity factors (how much it hurts); see score.py
DEFAULT_WEIGHTS: dict[str, float] = {
    "volume": 0.25,
    "negative_share": 0.20,
    "velocity": 0.15,
    "spread": 0.35,
    "reach": 0.10,
    "kol": 0.15,
    "topic": 0.15,
}
DEFAULT_THRESHOLDS: dict[str, float] = {"blue": 25.0, "yellow": 45.0, "orange": 65.0, "red": 80.0}
# distinct negative voices in the short window a level needs: three angry posts are not red
DEFAULT_MIN_VOICES: dict[str, int] = {"blue": 3, "yellow": 5, "orange": 12, "red": 30}


class _Opts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_levels(value: dict[str, Any]) -> dict[str, Any]:
    unknown = set(value) - set(LEVELS)
    if unknown:
        # the location (risk.thresholds, watch 'x'.min_voices) is added by the caller
        raise ValueError(f"unknown level(s) {sorted(unknown)}; levels are {', '.join(LEVELS)}")
    return value


def _check_weights(value: dict[str, float]) -> dict[str, float]:
    unknown = set(value) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown weight(s) {sorted(unknown)}; known: {', '.join(DEFAULT_WEIGHTS)}")
    if any(v < 0 for v in value.values()):
        raise ValueError("weights cannot be negative")
    return value


class FastPostOptions(_Opts):
    """One post from a high-reach author spreading fast lifts its watch's alert."""

    enabled: bool = True
    followers: int = Field(500_000, ge=0, description="author reach that makes a post 'high reach'")
    velocity: float = Field(10.0, gt=0, description="reposts per minute (posts or counter growth)")
    negative: float = Field(0.5, ge=0, le=1, description="story negativity needed")
    level: str = "yellow"

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        return v


class EngineOptions(_Opts):
    """``[risk]``: engine-wide tuning (watches may override thresholds, weights, voices)."""

    cooldown: Duration = 600.0
    resolve_after: Duration = 1800.0
    tick: Duration = Field(10.0, gt=0)
    short_window: Duration = Field(600.0, gt=0)
    velocity_window: Duration = Field(120.0, gt=0)
    story_ttl: Duration = Field(86400.0, gt=0)
    # the story index's size caps (besides story_ttl); see risk/stories.py and docs/performance.md
    max_story_posts: int = Field(300_000, ge=100, description="post keys the story index remembers")
    max_stories: int = Field(50_000, ge=100, description="stories the story index keeps")
    baseline_freeze: Duration = Field(6 * 3600.0, ge=0, description="longest an open alert stops learning")
    thresholds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    hysteresis: float = Field(10.0, ge=0, le=50)
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    min_voices: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_MIN_VOICES))
    kol_followers: int = Field(100_000, ge=0)
    prior_negative_share: float = Field(0.25, ge=0, le=1)
    serious_reactions: float = Field(
        SERIOUS,
        ge=0,
        le=1,
        description="negativity a repost asking whether its post is true counts at least (0: off)",
    )
    neutral_spreads: bool = Field(
        False,
        description="a repost the model reads as neutral passes its story on like a bare repost",
    )
    doubt_root: bool = Field(
        True,
        description="an original read as negative whose worded reactions lean positive is doubted",
    )
    rumour_model: str | None = Field(
        "models/default/rumour.json", description="how stories that read like a rumour are told (empty: off)"
    )
    rumour_from: float = Field(0.7, ge=0, le=1, description="P(rumour) from which a story counts as dark")
    rumour_voices: float = Field(
        0.0,
        ge=0,
        le=1,
        description="negativity a repost of a rumour-like story counts at least, x its strength",
    )
    velocity_saturation: float = Field(30.0, gt=0, description="posts/min at which velocity is maxed")
    dedup_threshold: float = Field(0.5, gt=0, le=1)
    taxonomy: str | None = "config/taxonomy.yaml"
    topic_threshold: float = Field(0.5, ge=0, le=1)
    samples: int = Field(5, ge=0, le=50)
    top_posts: int = Field(10, ge=0, le=200)
    fast_post: FastPostOptions = FastPostOptions()

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        _check_levels(v)
        merged = {**DEFAULT_THRESHOLDS, **v}
        values = [merged[level] for level in LEVELS]
        if values != sorted(values) or not all(0 <= x <= 100 for x in values):
            raise ValueError("thresholds must rise from blue to red, within 0..100")
        return merged

    @field_validator("min_voices")
    @classmethod
    def _voices(cls, v: dict[str, int]) -> dict[str, int]:
        _check_levels(v)
        return {**DEFAULT_MIN_VOICES, **v}

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        return {**DEFAULT_WEIGHTS, **_check_weights(v)}


_HHMM = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class WatchOptions(_Opts):
    """Per-``[[watch]]`` options beyond name and query."""

    thresholds: dict[str, float] = Field(default_factory=dict)
    weights: dict[str, float] = Field(default_factory=dict)
    min_voices: dict[str, int] = Field(default_factory=dict)
    # e.g. "23:00-07:00" (UTC+8 unless utc_offset says otherwise): events below
    # quiet_min_level in these hours are marked silenced (scored and stored, not paged)
    quiet_hours: str | None = None
    quiet_min_level: str = "orange"
    utc_offset: float = Field(8.0, ge=-12, le=14)

    @field_validator("thresholds", "min_voices")
    @classmethod
    def _levels(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_levels(v)

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_weights(v)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None:
            m = _HHMM.match(v.strip())
            if (
                not m
                or int(m.group(1)) > 23
                or int(m.group(3)) > 23
                or int(m.group(2)) > 59
                or int(m.group(4)) > 59
            ):
                raise ValueError(f"quiet_hours must look like '23:00-07:00', got {v!r}")
        return v

    @field_validator("quiet_min_level")
    @classmethod
    def _qlevel(cls, v: str) -> str:
        if v not in LEVELS:
            raise ValueError(f"quiet_min_level must be one of {', '.join(LEVELS)}")
        return v

    def quiet_span(self) -> tuple[time, time] | None:
        if self.quiet_hours is None:
            return None
        m = _HHMM.match(self.quiet_hours.strip())
        assert m is not None
        return time(int(m.group(1)), int(m.group(2))), time(int(m.group(3)), int(m.group(4)))


def _errors(exc: ValidationError, where: str) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{where}.{loc}: {e['msg']}" if loc else f"{where}: {e['msg']}")
    return "; ".join(parts)


def engine_options(config: RiskConfig | None = None) -> EngineOptions:
    """Validate ``[risk]``; raise ValueError naming the key."""
    config = config or RiskConfig()
    data = {"cooldown": config.cooldown, "resolve_after": config.resolve_after, **config.options}
    try:
        return EngineOptions.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_errors(exc, "risk")) from None


def watch_options(watch: WatchConfig) -> WatchOptions:
    """Validate a watch's extra keys; raise ValueError naming the watch and key."""
    _check_positive_query(watch)
    try:
        return WatchOptions.model_validate(watch.options)
    except ValidationError as exc:
        raise ValueError(_errors(exc, f"watch {watch.name!r}")) from None


def _check_positive_query(watch: WatchConfig) -> None:
    """A watch needs a term that must be present: ``NOT x`` alone would watch everything else."""
    from sentinel.risk.query import parse_query

    try:
        query = parse_query(watch.query)
    except ValueError:
        return  # the query's own error is reported where it is compiled (risk/watch.py)
    if not query.needs_a_term:
        raise ValueError(
            f"watch {watch.name!r}: query: {watch.query[:80]!r} matches posts that contain none of its "
            "terms; a watch needs at least one term that must be present (e.g. 'ACME AND NOT 招聘')"
        )
