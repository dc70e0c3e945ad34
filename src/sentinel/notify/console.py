"""Alert cards in the terminal: the demo needs no chat account."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from sentinel.clock import UTC8, Clock
from sentinel.config import NotifyConfig
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent

__all__ = ["ConsoleNotifier", "render_card"]

_COLOURS = {"blue": "34", "yellow": "33", "orange": "38;5;208", "red": "31"}
_NAMES = {"blue": "蓝色 BLUE", "yellow": "黄色 YELLOW", "orange": "橙色 ORANGE", "red": "红色 RED"}
_EVENTS = {"opened": "新预警", "escalated": "升级", "deescalated": "降级", "resolved": "已解除"}


def _plain(text: str, limit: int) -> str:
    # terminal control characters in post text could rewrite the operator's screen
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _factor_lines(event: AlertEvent, limit: int = 4) -> list[str]:
    items = []
    for name, value in event.factors.items():
        if isinstance(value, dict) and "contribution" in value:
            items.append((float(value.get("contribution") or 0), name, value))
    items.sort(key=lambda x: -x[0])
    lines = []
    for contribution, name, value in items[:limit]:
        shown = value.get("value")
        baseline = value.get("baseline")
        extra = f" (baseline {baseline})" if baseline is not None else ""
        lines.append(f"{name} = {shown}{extra}  +{contribution:.1f}")
    return lines


def render_card(event: AlertEvent, *, colour: bool) -> str:
    """A readable multi-line card: level, risk, why, sample posts."""
    code = _COLOURS.get(event.level, "0")
    bar = "━" * 60

    def paint(text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    at = event.at.astimezone(UTC8).strftime("%Y-%m-%d %H:%M:%S UTC+8")
    head = (
        f"[{_NAMES.get(event.level, event.level)}] {_EVENTS.get(event.event, event.event)} · "
        f"{_plain(event.watch, 60)} · risk {event.risk:.0f}/100"
    )
    lines = [paint(bar), paint(head), f"  {at}"]
    if event.factors.get("acked_by"):
        lines.append(f"  acknowledged by {_plain(str(event.factors['acked_by']), 40)}")
    why = _factor_lines(event)
    if why:
        lines.append("  why:")
        lines += [f"    · {w}" for w in why]
    for sample in event.samples[:3]:
        author = _plain(str(sample.get("author") or "?"), 30)
        followers = sample.get("followers")
        who = f"@{author}" + (f" ({followers} followers)" if followers else "")
        lines.append(f"  ▸ {who}: {_plain(str(sample.get('text') or ''), 80)}")
    lines.append(paint(bar))
    return "\n".join(lines)


class ConsoleNotifier:
    """Prints alert cards to stdout (coloured on a terminal)."""

    def __init__(
        self, config: NotifyConfig, *, clock: Clock, metrics: Metrics, stream: TextIO | None = None
    ) -> None:
        self.config = config
        self.channel = config.channel
        self.clock = clock
        self.metrics = metrics
        self.stream = stream

    async def send(self, events: Sequence[AlertEvent]) -> None:
        out = self.stream or sys.stdout
        colour = bool(self.config.options.get("colour", out.isatty()))
        for event in events:
            out.write(render_card(event, colour=colour) + "\n")
        out.flush()

    async def close(self) -> None:
        return None
