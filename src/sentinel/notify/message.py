"""What an alert says, before any channel's markup: templates filled with neutralised values.

Every channel renders the same :class:`EventView` (or a digest of several) in its own
syntax, so the words live in one place — the template files in ``sentinel/templates`` —
and the safety rules in another (:mod:`sentinel.notify.sanitize`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from sentinel.clock import UTC8
from sentinel.notify.sanitize import neutralize, safe_url
from sentinel.risk.base import AlertEvent

if TYPE_CHECKING:
    from sentinel.nlp.taxonomy import Taxonomy

__all__ = [
    "LANGS",
    "LEVEL_COLOURS",
    "LEVEL_EMOJI",
    "DigestView",
    "EventView",
    "SampleView",
    "Templates",
    "digest_view",
    "event_view",
    "format_count",
    "topic_name",
]

LANGS = ("zh", "en")
LEVEL_EMOJI = {"blue": "🔵", "yellow": "🟡", "orange": "🟠", "red": "🔴"}
LEVEL_COLOURS = {"blue": "#1E88E5", "yellow": "#FBC02D", "orange": "#FB8C00", "red": "#E53935"}
_HIDDEN_FACTORS = {
    "silenced",
    "silence",
    "acked_by",
    "acked_at",
    "ack_note",
    "samples",
    "posts",
    "stories",
    "evidence",
}
_SECTIONS = ("level", "event", "factor", "unit", "text")
_SAMPLE_VALUES = {
    "emoji": "🔴",
    "level_name": "x",
    "event_name": "x",
    "watch": "x",
    "risk": "1",
    "at": "x",
    "previous_level_name": "x",
    "name": "x",
    "value": "1",
    "baseline": "1",
    "author": "x",
    "followers": "1",
    "text": "x",
    "negative": "1",
    "acked_by": "x",
    "count": "1",
    "first_at": "x",
    "last_at": "x",
}


class Templates:
    """The message wording for one language, optionally overlaid by a user's file.

    >>> Templates.load("en").text("risk", risk="72")
    'Risk: 72/100'
    """

    def __init__(
        self, data: Mapping[str, Mapping[str, str]], *, source: str = "<templates>", lang: str = "zh"
    ) -> None:
        self.data = {s: dict(data.get(s, {})) for s in _SECTIONS}
        self.source = source
        self.lang = lang
        self._check()

    @classmethod
    def load(cls, lang: str = "zh", path: str | Path | None = None) -> Templates:
        if lang not in LANGS:
            raise ValueError(f"lang: {lang!r} is not one of {', '.join(LANGS)}")
        bundled = resources.files("sentinel").joinpath("templates", f"notify.{lang}.toml")
        data = tomllib.loads(bundled.read_text(encoding="utf-8"))
        source = f"notify.{lang}.toml"
        if path is not None:
            p = Path(path)
            try:
                override = tomllib.loads(p.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ValueError(f"templates: cannot read {p}: {exc}") from None
            for section, values in override.items():
                if section not in _SECTIONS or not isinstance(values, dict):
                    raise ValueError(
                        f"templates: {p}: unknown section [{section}] (one of {', '.join(_SECTIONS)})"
                    )
                data.setdefault(section, {}).update({str(k): str(v) for k, v in values.items()})
            source = str(p)
        return cls(data, source=source, lang=lang)

    def _check(self) -> None:
        # fail at start-up, naming the key, rather than at 3 a.m. on the first red alert
        for key, raw in self.data["text"].items():
            if key.endswith("time_format"):
                continue
            try:
                Template(raw).substitute(_SAMPLE_VALUES)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"templates: {self.source}: text.{key}: bad placeholder {exc}") from None
        for key, raw in self.data["unit"].items():
            try:
                Template(raw).substitute(value="1")
            except (KeyError, ValueError) as exc:
                raise ValueError(f"templates: {self.source}: unit.{key}: bad placeholder {exc}") from None

    def text(self, key: str, **values: Any) -> str:
        return Template(self.data["text"].get(key, "")).safe_substitute(
            {k: str(v) for k, v in values.items()}
        )

    def level(self, level: str | None) -> str:
        return self.data["level"].get(level or "", level or "")

    def event(self, event: str) -> str:
        return self.data["event"].get(event, event)

    def factor(self, name: str) -> str:
        return self.data["factor"].get(name, name)

    def unit(self, name: str, value: str) -> str:
        """A factor's figure with its unit ("83 万" -> "83 万粉丝"); as it is if it has none."""
        raw = self.data["unit"].get(name)
        return Template(raw).safe_substitute(value=value) if raw else value

    def time(self, event: AlertEvent, *, short: bool = False) -> str:
        key, default = (
            ("short_time_format", "%m-%d %H:%M") if short else ("time_format", "%Y-%m-%d %H:%M UTC+8")
        )
        fmt = self.data["text"].get(key, default)
        return event.at.astimezone(UTC8).strftime(fmt)


@dataclass(frozen=True, slots=True)
class SampleView:
    """A sample post, every field already neutralised (``url`` is None unless safe)."""

    author: str
    followers: str
    text: str
    url: str | None
    line: str


@dataclass(frozen=True, slots=True)
class EventView:
    """One alert event in words: trusted template text with neutralised values filled in."""

    event: AlertEvent
    level: str
    emoji: str
    colour: str
    title: str
    risk_line: str
    at_line: str
    previous_line: str | None
    factors_heading: str
    factor_lines: list[str]
    samples_heading: str
    samples: list[SampleView]
    acked_line: str | None
    open_link: str
    footer: str
    # the alert's page in the console, when [web] public_url is set (the dispatcher adds it)
    console_url: str | None = None
    console_label: str = ""


def format_count(n: float, lang: str = "zh") -> str:
    """A count people read at a glance: 830,000 is "83 万" in Chinese, "830k" in English."""
    n = float(n)
    if lang == "zh":
        for size, unit in ((1e8, "亿"), (1e4, "万")):
            if abs(n) >= size:
                return f"{_trim(n / size)} {unit}"
    else:
        for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(n) >= size:
                return f"{_trim(n / size)}{unit}"
    return f"{n:,.0f}"


def _trim(x: float) -> str:
    # three significant figures at most: 83 万, 8.3 万, 1.25 亿
    digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{x:.0f}"


@cache
def _topic_names() -> dict[str, dict[str, str]]:
    taxonomy = _taxonomy()
    return {} if taxonomy is None else {t.id: {"zh": t.name_zh, "en": t.name_en} for t in taxonomy.topics}


def topic_name(topic_id: str, lang: str = "zh") -> str:
    """A crisis topic's name ("product_safety" -> "产品与食品安全"), the id if unknown."""
    return _topic_names().get(topic_id, {}).get(lang) or topic_id


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _show(value: Any, name: str = "") -> str | None:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, int | float) and "share" in name and 0.0 <= value <= 1.0:
        return f"{100.0 * value:.0f}%"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return neutralize(value, 60)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return neutralize("、".join(str(v) for v in value[:5]), 60)
    return None


# factors whose figure is a count of people or posts, shown the way people count them
_COUNTS = frozenset({"reach", "volume", "spread", "velocity", "kol", "posts_in_window"})


def _figure(name: str, value: Any, tpl: Templates) -> str | None:
    if name in _COUNTS and isinstance(value, int | float) and not isinstance(value, bool):
        return format_count(value, tpl.lang) if value >= 10_000 else _number(round(float(value), 1))
    return _show(value, name)


def _topics_of(event: AlertEvent, factor: Mapping[str, Any], tpl: Templates) -> str | None:
    """The crisis topics behind the topic factor, by name: the ones the engine named, else the
    taxonomy's seed terms found in the alert's sample posts and top stories (most-hit first)."""
    named = factor.get("topics") or factor.get("id")
    ids = [named] if isinstance(named, str) else [str(t) for t in named] if isinstance(named, list) else []
    taxonomy = _taxonomy()
    if not ids and taxonomy is not None:
        hits: dict[str, float] = {}
        stories = event.factors.get("stories")
        texts = [s.get("text") for s in event.samples]
        texts += (
            [s.get("text") for s in stories if isinstance(s, Mapping)] if isinstance(stories, list) else []
        )
        for text in texts:
            for topic_id, seeds in taxonomy.match(str(text or "")).items():
                # weighed as the engine weighs them: a safety scare over a rude hotline
                hits[topic_id] = hits.get(topic_id, 0.0) + len(seeds) * taxonomy.get(topic_id).severity
        ids = sorted(hits, key=lambda t: -hits[t])[:2]
    return "、".join(topic_name(t, tpl.lang) for t in ids) or None


def _drives(event: AlertEvent, contribution: float) -> bool:
    """Without this factor's share of the risk, would the alert sit at a lower level?"""
    from sentinel.risk.options import DEFAULT_THRESHOLDS

    threshold = DEFAULT_THRESHOLDS.get(event.level)
    return threshold is not None and contribution > 0 and event.risk - contribution < threshold


def _factor_lines(event: AlertEvent, tpl: Templates, limit: int) -> list[str]:
    """The factors worth a line, biggest share of the risk first, within ``limit`` lines.

    Two are pinned whatever their rank: the crisis topic, named (what kind of crisis it is),
    and the KOL factor when it lifts the alert to its level (who is talking decides it)."""
    pinned: list[tuple[float, int, str]] = []
    ranked: list[tuple[float, int, str]] = []
    for i, (name, value) in enumerate(event.factors.items()):
        if name in _HIDDEN_FACTORS:
            continue
        label = tpl.data["factor"].get(str(name)) or neutralize(name, 40)
        if isinstance(value, Mapping):
            contribution = value.get("contribution")
            weight = float(contribution) if isinstance(contribution, int | float) else 0.0
            if name == "topic":
                shown = _topics_of(event, value, tpl) if weight > 0 else None
                if shown is not None:
                    pinned.insert(0, (-weight, i, tpl.text("factor", name=label, value=shown)))
                continue
            figure = _figure(str(name), value.get("value"), tpl)
            if figure is None:
                continue
            shown = tpl.unit(str(name), figure)
            base = _figure(str(name), value.get("baseline"), tpl)
            line = (
                tpl.text("factor_baseline", name=label, value=shown, baseline=tpl.unit(str(name), base))
                if base is not None
                else tpl.text("factor", name=label, value=shown)
            )
            story = value.get("story") if name == "spread" else None
            serious = story.get("serious") if isinstance(story, Mapping) else None
            if isinstance(serious, int) and not isinstance(serious, bool) and serious > 0:
                line += tpl.text("serious", count=str(serious))  # people ask whether it is true
            (pinned if name == "kol" and _drives(event, weight) else ranked).append((-weight, i, line))
        else:
            figure = _figure(str(name), value, tpl)
            if figure is not None:
                ranked.append((0.0, i, tpl.text("factor", name=label, value=tpl.unit(str(name), figure))))
    ranked.sort()
    return [line for *_, line in [*pinned, *ranked][:limit]]


@cache
def _taxonomy() -> Taxonomy | None:
    from sentinel.nlp.taxonomy import TaxonomyError, load_taxonomy
    from sentinel.paths import find

    for relative in ("models/default", "config"):
        base = find(relative, "taxonomy.yaml")
        if base is None:
            continue
        try:
            return load_taxonomy(base / "taxonomy.yaml")
        except (OSError, TaxonomyError):
            continue
    return None


def event_view(
    event: AlertEvent,
    tpl: Templates,
    *,
    max_factors: int = 4,
    max_samples: int = 3,
    sample_chars: int = 140,
    clean: Callable[[object, int], str] = neutralize,
) -> EventView:
    """Fill the templates for one event; every value from outside passes through ``clean``
    (:func:`~sentinel.notify.sanitize.neutralize` for chat services; the console only
    needs control characters removed)."""
    emoji = LEVEL_EMOJI.get(event.level, "⚪")
    title = tpl.text(
        "title",
        emoji=emoji,
        level_name=tpl.level(event.level),
        event_name=tpl.event(event.event),
        watch=clean(event.watch, 60),
    )
    samples = []
    for s in event.samples[:max_samples]:
        author = clean(s.get("author") or "?", 30)
        followers = _show(s.get("followers") or 0) or "0"
        text = clean(s.get("text") or "", sample_chars)
        negative = s.get("negative")
        line = tpl.text(
            "sample",
            author=author,
            followers=followers,
            text=text,
            negative=_number(float(negative)) if isinstance(negative, int | float) else "",
        )
        samples.append(
            SampleView(author=author, followers=followers, text=text, url=safe_url(s.get("url")), line=line)
        )
    acked = event.factors.get("acked_by")
    previous = None
    if event.previous_level and event.event in ("escalated", "deescalated", "resolved"):
        previous = tpl.text("previous", previous_level_name=tpl.level(event.previous_level))
    return EventView(
        event=event,
        level=event.level,
        emoji=emoji,
        colour=LEVEL_COLOURS.get(event.level, "#9E9E9E"),
        title=title,
        risk_line=tpl.text("risk", risk=f"{event.risk:.0f}"),
        at_line=tpl.text("at", at=tpl.time(event)),
        previous_line=previous,
        factors_heading=tpl.text("factors_heading"),
        factor_lines=_factor_lines(event, tpl, max_factors),
        samples_heading=tpl.text("samples_heading"),
        samples=samples,
        acked_line=tpl.text("acked", acked_by=clean(acked, 40)) if acked else None,
        open_link=tpl.text("open_link"),
        footer=tpl.text("footer"),
        console_url=safe_url(event.factors.get("console_url")),
        console_label="在控制台处理" if tpl.lang == "zh" else "Open in the console",
    )


@dataclass(frozen=True, slots=True)
class DigestView:
    """Several events in one message: a title and one line per event."""

    title: str
    lines: list[str]
    worst_level: str
    colour: str
    footer: str

    def more_line(self, tpl: Templates, shown: int) -> str | None:
        hidden = len(self.lines) - shown
        return tpl.text("more", count=hidden) if hidden > 0 else None


def digest_view(events: Sequence[AlertEvent], tpl: Templates) -> DigestView:
    from sentinel.config import level_rank

    worst = max(events, key=lambda e: level_rank(e.level)).level if events else "blue"
    lines = []
    for ev in events:
        line = tpl.text(
            "digest_line",
            emoji=LEVEL_EMOJI.get(ev.level, "⚪"),
            at=tpl.time(ev, short=True),
            level_name=tpl.level(ev.level),
            watch=neutralize(ev.watch, 60),
            event_name=tpl.event(ev.event),
            risk=f"{ev.risk:.0f}",
        )
        if ev.factors.get("acked_by"):
            line += " · " + tpl.text("acked", acked_by=neutralize(ev.factors["acked_by"], 40))
        lines.append(line)
    first, last = (tpl.time(events[0], short=True), tpl.time(events[-1], short=True)) if events else ("", "")
    return DigestView(
        title=tpl.text("digest_title", count=len(events), first_at=first, last_at=last),
        lines=lines,
        worst_level=worst,
        colour=LEVEL_COLOURS.get(worst, "#9E9E9E"),
        footer=tpl.text("footer"),
    )
