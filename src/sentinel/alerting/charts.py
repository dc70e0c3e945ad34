"""Report charts as SVG markup, written directly: no plotting library, no font.

Every label stays text (``<text>``), so the reader's browser draws the Chinese with its own
fonts; the daemon needs no CJK font and renders the same on any machine. The SVG goes inline
into the report's HTML (inline markup is not a sub-resource, so the page's strict CSP is
unchanged) and into ``charts/*.svg`` for the Markdown report.

>>> svg = topics_chart([("质量问题", 12)], title="话题", unit="帖子（条）")
>>> "<text" in svg and "质量问题" in svg
True
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from sentinel.alerting.report import Buckets
from sentinel.alerting.responses import ResponseEvent, risk_at
from sentinel.risk.base import AlertEvent

__all__ = [
    "KIND_NAMES",
    "LEVEL_COLOURS",
    "risk_chart",
    "sentiment_chart",
    "topics_chart",
    "volume_chart",
]

LEVEL_COLOURS = {"blue": "#1E88E5", "yellow": "#FBC02D", "orange": "#FB8C00", "red": "#E53935"}
KIND_NAMES = {
    "zh": {
        "statement": "声明",
        "apology": "道歉",
        "recall": "召回",
        "clarification": "澄清",
        "other": "回应",
    },
    "en": {
        "statement": "statement",
        "apology": "apology",
        "recall": "recall",
        "clarification": "clarification",
        "other": "response",
    },
}
SENTIMENT_COLOURS = {"negative": "#E53935", "neutral": "#9E9E9E", "positive": "#43A047"}
INK, MUTED, GRID, RESPONSE = "#263238", "#607D8B", "#E0E6EA", "#6A1B9A"
WIDTH = 900
# tick steps for a time axis, the first that gives at most MAX_TICKS ticks wins
_TIME_STEPS = [timedelta(minutes=m) for m in (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)]
MAX_TICKS = 10


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


class _Canvas:
    """A plot area inside an SVG of ``WIDTH`` x ``height`` with room for axes and a title."""

    def __init__(self, name: str, title: str, height: int = 300, *, left: int = 64, bottom: int = 60) -> None:
        self.name, self.title, self.height = name, title, height
        self.x0, self.x1 = left, WIDTH - 20
        self.y0, self.y1 = 40, height - bottom
        self.parts: list[str] = [
            f'<text class="title" x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" '
            f'font-weight="bold" fill="{INK}">{_e(title)}</text>'
        ]

    def add(self, part: str) -> None:
        self.parts.append(part)

    def text(
        self, x: float, y: float, s: str, *, anchor: str = "middle", size: int = 12, fill: str = MUTED
    ) -> None:
        self.add(
            f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" font-size="{size}" fill="{fill}">{_e(s)}</text>'
        )

    def line(
        self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = GRID, extra: str = ""
    ) -> None:
        self.add(f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke="{stroke}"{extra}/>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str, extra: str = "") -> None:
        self.add(
            f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(max(0.0, w))}" height="{_f(max(0.0, h))}" '
            f'fill="{fill}"{extra}/>'
        )

    def y_axis(self, top: float, unit: str, *, percent: bool = False) -> None:
        for v in _nice_ticks(top):
            y = self.y(v, top)
            self.line(self.x0, y, self.x1, y)
            self.text(self.x0 - 6, y + 4, f"{round(v * 100)}%" if percent else _f(v), anchor="end", size=11)
        self.line(self.x0, self.y1, self.x1, self.y1, stroke=MUTED)
        self.add(
            f'<text x="14" y="{_f((self.y0 + self.y1) / 2)}" font-size="12" fill="{MUTED}" '
            f'text-anchor="middle" transform="rotate(-90 14 {_f((self.y0 + self.y1) / 2)})">{_e(unit)}</text>'
        )

    def y(self, v: float, top: float) -> float:
        return self.y1 - (v / top if top else 0.0) * (self.y1 - self.y0)

    def svg(self) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-{_e(self.name)}" class="chart" role="img" '
            f'viewBox="0 0 {WIDTH} {self.height}" width="{WIDTH}" height="{self.height}" '
            f'font-family="sans-serif"><title>{_e(self.title)}</title>'
            f'<rect width="{WIDTH}" height="{self.height}" fill="#fff"/>' + "".join(self.parts) + "</svg>"
        )


class _TimeAxis:
    def __init__(self, c: _Canvas, since: datetime, until: datetime, tz: tzinfo) -> None:
        self.c, self.since, self.until, self.tz = c, since, until, tz
        self.span = max(1.0, (until - since).total_seconds())

    def x(self, when: datetime) -> float:
        frac = (when - self.since).total_seconds() / self.span
        return self.c.x0 + min(1.0, max(0.0, frac)) * (self.c.x1 - self.c.x0)

    def draw(self) -> None:
        span = self.until - self.since
        step = next((s for s in _TIME_STEPS if span / s <= MAX_TICKS), _TIME_STEPS[-1])
        local = self.since.astimezone(self.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        tick = midnight + math.ceil((local - midnight) / step) * step
        last_day = None
        while tick <= self.until:
            x = self.x(tick)
            self.c.line(x, self.c.y1, x, self.c.y1 + 4, stroke=MUTED)
            t = tick.astimezone(self.tz)
            self.c.text(x, self.c.y1 + 17, t.strftime("%H:%M") if step < timedelta(days=1) else "", size=11)
            if t.date() != last_day:
                self.c.text(x, self.c.y1 + 31, t.strftime("%m-%d"), size=11)
                last_day = t.date()
            tick += step

    def responses(self, responses: Sequence[ResponseEvent], lang: str) -> None:
        for r in responses:
            if not self.since <= r.at <= self.until:
                continue
            x = self.x(r.at)
            self.c.line(
                x,
                self.c.y0,
                x,
                self.c.y1,
                stroke=RESPONSE,
                extra=' stroke-dasharray="5 3" stroke-width="1.5"',
            )
            self.c.text(
                x + 3, self.c.y0 + 12, KIND_NAMES[lang].get(r.kind, r.kind), anchor="start", fill=RESPONSE
            )


def _nice_ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0]
    raw = top / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]


def _nice_top(top: float) -> float:
    if top <= 0:
        return 1.0
    ticks = _nice_ticks(top * 1.05)
    step = ticks[1] if len(ticks) > 1 else top
    return math.ceil(top * 1.05 / step) * step


def _legend(c: _Canvas, items: Sequence[tuple[str, str]]) -> None:
    x = c.x0
    for label, colour in items:
        c.rect(x, c.height - 12, 10, 10, colour)
        c.text(x + 14, c.height - 3, label, anchor="start", size=11, fill=INK)
        x += 24 + 13 * len(label)


def _level_at(events: Sequence[AlertEvent], when: datetime) -> str | None:
    level = None
    for ev in events:
        if ev.at > when:
            break
        level = None if ev.event == "resolved" else ev.level
    return level


def risk_chart(
    events: Sequence[AlertEvent],
    since: datetime,
    until: datetime,
    responses: Sequence[ResponseEvent],
    tz: tzinfo,
    *,
    title: str,
    unit: str,
    level_names: dict[str, str],
    lang: str = "zh",
) -> str:
    """Risk 0-100 as a step line over coloured level bands; responses as dashed lines."""
    c = _Canvas("risk", title, 316)
    axis = _TimeAxis(c, since, until, tz)
    points = sorted({since, until, *(e.at for e in events if since <= e.at <= until)})
    for a, b in itertools.pairwise(points):
        level = _level_at(events, a)
        if level:
            c.rect(
                axis.x(a),
                c.y0,
                axis.x(b) - axis.x(a),
                c.y1 - c.y0,
                LEVEL_COLOURS.get(level, "#BDBDBD"),
                ' fill-opacity="0.18"',
            )
    c.y_axis(100, unit)
    path: list[str] = []
    for a, b in itertools.pairwise(points):
        y = c.y(risk_at(events, a), 100)
        path.append(f"{'M' if not path else 'L'}{_f(axis.x(a))},{_f(y)} L{_f(axis.x(b))},{_f(y)}")
    if path:
        c.add(f'<path d="{" ".join(path)}" fill="none" stroke="{INK}" stroke-width="2"/>')
    axis.draw()
    axis.responses(responses, lang)
    _legend(c, [(level_names.get(k, k), v) for k, v in LEVEL_COLOURS.items()])
    return c.svg()


def volume_chart(
    b: Buckets,
    responses: Sequence[ResponseEvent],
    tz: tzinfo,
    *,
    title: str,
    unit: str,
    legend: tuple[str, str],
    lang: str = "zh",
    name: str = "volume",
) -> str:
    """Posts per bucket as bars, the baseline (median of the previous day) as a line."""
    c = _Canvas(name, title, 316)
    if not b.starts:
        return c.svg()
    axis = _TimeAxis(c, b.starts[0], b.starts[-1] + b.size, tz)
    top = _nice_top(max([*b.volume, *(v for v in b.baseline if v is not None), 1]))
    c.y_axis(top, unit)
    for start, v in zip(b.starts, b.volume, strict=True):
        x0, x1 = axis.x(start), axis.x(start + b.size)
        c.rect(x0 + 0.5, c.y(v, top), max(1.0, (x1 - x0) * 0.9), c.y1 - c.y(v, top), "#90A4AE")
    pts = [
        f"{_f(axis.x(s + b.size / 2))},{_f(c.y(v, top))}"
        for s, v in zip(b.starts, b.baseline, strict=True)
        if v is not None
    ]
    if pts:
        c.add(f'<polyline points="{" ".join(pts)}" fill="none" stroke="#E65100" stroke-width="2"/>')
    axis.draw()
    axis.responses(responses, lang)
    _legend(c, [(legend[0], "#90A4AE"), (legend[1], "#E65100")])
    return c.svg()


def sentiment_chart(
    b: Buckets,
    responses: Sequence[ResponseEvent],
    tz: tzinfo,
    *,
    title: str,
    unit: str,
    names: dict[str, str],
    lang: str = "zh",
    name: str = "sentiment",
) -> str:
    """Shares of negative / neutral / positive per bucket, stacked to 100 % (empty buckets blank)."""
    c = _Canvas(name, title, 316)
    if not b.starts:
        return c.svg()
    axis = _TimeAxis(c, b.starts[0], b.starts[-1] + b.size, tz)
    c.y_axis(1.0, unit, percent=True)
    for i, start in enumerate(b.starts):
        counts = {"negative": b.negative[i], "neutral": b.neutral[i], "positive": b.positive[i]}
        total = sum(counts.values())
        if not total:
            continue
        x0, x1 = axis.x(start), axis.x(start + b.size)
        level = 0.0
        for label in ("negative", "neutral", "positive"):
            share = counts[label] / total
            c.rect(
                x0,
                c.y(level + share, 1.0),
                x1 - x0,
                c.y(level, 1.0) - c.y(level + share, 1.0),
                SENTIMENT_COLOURS[label],
            )
            level += share
    axis.draw()
    axis.responses(responses, lang)
    _legend(c, [(names[k], v) for k, v in SENTIMENT_COLOURS.items()])
    return c.svg()


def topics_chart(topics: Sequence[tuple[str, int]], *, title: str, unit: str, empty: str = "—") -> str:
    """Posts per crisis topic as horizontal bars, biggest on top, each with its count."""
    rows = list(topics) or [(empty, 0)]
    height = 70 + 28 * len(rows)
    c = _Canvas("topics", title, height, left=170, bottom=30)
    top = _nice_top(max(v for _, v in rows) or 1)
    span = c.x1 - c.x0 - 40
    for i, (label, value) in enumerate(rows):
        y = c.y0 + 28 * i
        w = span * value / top
        c.text(c.x0 - 8, y + 16, label, anchor="end", size=13, fill=INK)
        c.rect(c.x0, y + 4, w, 18, "#5C6BC0")
        c.text(c.x0 + w + 6, y + 17, f"{value:,}", anchor="start", size=12, fill=INK)
    c.text((c.x0 + c.x1) / 2, height - 8, unit, size=12)
    return c.svg()
