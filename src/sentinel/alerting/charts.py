"""Report charts as PNG bytes (matplotlib, Agg, no pyplot state), with a CJK font.

Figures are built with :class:`matplotlib.figure.Figure` directly, so charts can be drawn
from any thread and nothing leaks between reports.
"""

from __future__ import annotations

import io
import itertools
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, tzinfo

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sentinel.alerting.fonts import find_cjk_font
from sentinel.alerting.report import Buckets
from sentinel.alerting.responses import Effect, ResponseEvent, risk_at
from sentinel.risk.base import AlertEvent

__all__ = [
    "LEVEL_COLOURS",
    "effect_chart",
    "png",
    "risk_chart",
    "sentiment_chart",
    "style",
    "topics_chart",
    "volume_chart",
]

LEVEL_COLOURS = {"blue": "#1E88E5", "yellow": "#FBC02D", "orange": "#FB8C00", "red": "#E53935"}
KIND_NAMES = {
    "statement": "声明",
    "apology": "道歉",
    "recall": "召回",
    "clarification": "澄清",
    "other": "回应",
}
_SENTIMENT = (
    ("negative", "负面", "#E53935"),
    ("neutral", "中性", "#9E9E9E"),
    ("positive", "正面", "#43A047"),
)


@contextmanager
def style() -> Iterator[None]:
    """matplotlib settings for report charts: a CJK font first, DejaVu Sans for the rest."""
    import matplotlib

    font = find_cjk_font()
    families = ([font.name] if font else []) + ["DejaVu Sans"]
    with matplotlib.rc_context(
        {
            "font.family": "sans-serif",
            "font.sans-serif": families,
            "axes.unicode_minus": False,  # CJK fonts often lack U+2212
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": 100,
            "savefig.dpi": 110,
        }
    ):
        if font is None:
            # charts still render (with boxes for Chinese); the report notes the missing font
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Glyph .* missing from")
                yield
        else:
            yield


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _figure(width: float = 9.0, height: float = 3.2) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _time_axis(ax: Axes, tz: tzinfo) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=tz, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))


def _x(when: datetime) -> float:
    # matplotlib's date axis works in float days; tz-aware datetimes convert exactly
    import matplotlib.dates as mdates

    return float(mdates.date2num(when))


def _xs(whens: Sequence[datetime]) -> list[float]:
    return [_x(w) for w in whens]


def _mark_responses(ax: Axes, responses: Sequence[ResponseEvent]) -> None:
    for r in responses:
        ax.axvline(_x(r.at), color="#6A1B9A", linestyle="--", linewidth=1.2)
        ax.annotate(
            KIND_NAMES.get(r.kind, r.kind),
            xy=(_x(r.at), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            color="#6A1B9A",
            fontsize=9,
        )


def risk_chart(
    events: Sequence[AlertEvent],
    since: datetime,
    until: datetime,
    responses: Sequence[ResponseEvent],
    tz: tzinfo,
    title: str,
) -> bytes:
    """Risk 0-100 as a step line, the alert level as coloured bands, responses as lines."""
    with style():
        fig, ax = _figure()
        points = sorted({since, until, *(e.at for e in events if since <= e.at <= until)})
        risks = [risk_at(events, p) for p in points]
        ax.step(_xs(points), risks, where="post", color="#263238", linewidth=1.6, label="风险 risk")
        for a, b in itertools.pairwise(points):
            level = _level_at(events, a)
            if level:
                ax.axvspan(_x(a), _x(b), color=LEVEL_COLOURS.get(level, "#BDBDBD"), alpha=0.18, linewidth=0)
        _mark_responses(ax, responses)
        ax.set_ylim(0, 100)
        ax.set_xlim(_x(since), _x(until))
        ax.set_ylabel("risk 风险")
        ax.set_title(title)
        _time_axis(ax, tz)
        return png(fig)


def _level_at(events: Sequence[AlertEvent], when: datetime) -> str | None:
    level = None
    for ev in events:
        if ev.at > when:
            break
        level = None if ev.event == "resolved" else ev.level
    return level


def volume_chart(b: Buckets, responses: Sequence[ResponseEvent], tz: tzinfo, title: str) -> bytes:
    """Posts per bucket as bars, the baseline (median of the previous day) as a line."""
    with style():
        fig, ax = _figure()
        width = b.size.total_seconds() / 86400 * 0.9
        ax.bar(_xs(b.starts), b.volume, width=width, align="edge", color="#90A4AE", label="帖子数 posts")
        xs = [s + b.size / 2 for s, v in zip(b.starts, b.baseline, strict=True) if v is not None]
        ys = [v for v in b.baseline if v is not None]
        if ys:
            ax.plot(_xs(xs), ys, color="#E65100", linewidth=1.6, label="基线 baseline")
        _mark_responses(ax, responses)
        ax.set_ylabel(f"posts / {_size_name(b)}")
        ax.set_title(title)
        ax.legend(loc="upper left", frameon=False)
        _time_axis(ax, tz)
        return png(fig)


def _size_name(b: Buckets) -> str:
    return "hour" if b.size.total_seconds() <= 3600 else "day"


def sentiment_chart(b: Buckets, responses: Sequence[ResponseEvent], tz: tzinfo, title: str) -> bytes:
    """Shares of negative / neutral / positive per bucket, stacked to 100 %."""
    with style():
        fig, ax = _figure()
        totals = [max(1, n + u + p) for n, u, p in zip(b.negative, b.neutral, b.positive, strict=True)]
        series = {
            "negative": [n / t for n, t in zip(b.negative, totals, strict=True)],
            "neutral": [u / t for u, t in zip(b.neutral, totals, strict=True)],
            "positive": [p / t for p, t in zip(b.positive, totals, strict=True)],
        }
        xs = [s + b.size / 2 for s in b.starts]
        ax.stackplot(
            _xs(xs),
            *(series[k] for k, _, _ in _SENTIMENT),
            colors=[c for _, _, c in _SENTIMENT],
            labels=[f"{zh} {k}" for k, zh, _ in _SENTIMENT],
            alpha=0.85,
        )
        _mark_responses(ax, responses)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share 占比")
        ax.set_title(title)
        ax.legend(loc="lower left", frameon=False, ncols=3)
        _time_axis(ax, tz)
        return png(fig)


def topics_chart(topics: Sequence[tuple[str, int]], title: str) -> bytes:
    """Posts per crisis topic, biggest on top."""
    with style():
        fig, ax = _figure(7.0, 0.5 + 0.35 * max(3, len(topics)))
        labels = [k for k, _ in topics][::-1]
        values = [v for _, v in topics][::-1]
        ax.barh(labels or ["(none)"], values or [0], color="#5C6BC0")
        ax.set_xlabel("posts 帖子")
        ax.set_title(title)
        return png(fig)


def effect_chart(effect: Effect, title: str) -> bytes:
    """Before / after for each share metric with its 95 % interval, and the volume rates."""
    with style():
        fig = Figure(figsize=(9.0, 3.0), layout="constrained")
        left, right = fig.subplots(1, 2)
        shares = [c for c in effect.comparisons if c.kind == "difference" and c.before is not None]
        names = [c.metric for c in shares]
        ys = range(len(shares))
        left.barh(
            [y + 0.2 for y in ys],
            [c.before or 0 for c in shares],
            height=0.4,
            color="#B0BEC5",
            label="before 之前",
        )
        left.barh(
            [y - 0.2 for y in ys],
            [c.after or 0 for c in shares],
            height=0.4,
            color="#6A1B9A",
            label="after 之后",
        )
        left.set_yticks(list(ys), names)
        left.set_xlim(0, 1)
        left.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)
        rates = [c for c in effect.comparisons if c.kind == "ratio"]
        xs = range(len(rates))
        right.bar([x - 0.2 for x in xs], [c.before or 0 for c in rates], width=0.4, color="#B0BEC5")
        right.bar([x + 0.2 for x in xs], [c.after or 0 for c in rates], width=0.4, color="#6A1B9A")
        right.set_xticks(list(xs), [c.metric.replace(" (posts/h)", "\n(posts/h)") for c in rates])
        fig.suptitle(title)
        return png(fig)
