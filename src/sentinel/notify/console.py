"""Alert cards in the terminal: the demo needs no chat account.

The words come from the same templates as the chat channels (``lang = "en"`` or
``templates = FILE`` in the ``[[notify]]`` section); post text only has terminal control
characters removed, which is all a terminal needs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from pydantic import Field

from sentinel.clock import Clock
from sentinel.config import NotifyConfig
from sentinel.notify.http import ChannelOptions, parse_options
from sentinel.notify.message import Templates, event_view
from sentinel.notify.sanitize import one_line
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent

__all__ = ["ConsoleNotifier", "ConsoleOptions", "render_card"]

_COLOURS = {"blue": "34", "yellow": "33", "orange": "38;5;208", "red": "31"}


def _plain(text: object, limit: int) -> str:
    # terminal control characters in post text could rewrite the operator's screen
    return one_line(str(text or ""), limit)


def render_card(event: AlertEvent, *, colour: bool, templates: Templates | None = None) -> str:
    """A readable multi-line card: level, risk, why, sample posts."""
    tpl = templates or Templates.load("zh")
    view = event_view(event, tpl, clean=_plain)
    code = _COLOURS.get(event.level, "0")
    bar = "━" * 60

    def paint(text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    lines = [paint(bar), paint(f"{view.title} · {view.risk_line}"), f"  {view.at_line}"]
    lines += [f"  {x}" for x in (view.previous_line, view.acked_line) if x]
    if view.factor_lines:
        lines.append(f"  {view.factors_heading}:")
        lines += [f"    · {f}" for f in view.factor_lines]
    for s in view.samples:
        lines.append(f"  ▸ {s.line}" + (f"  {s.url}" if s.url else ""))
    lines.append(paint(bar))
    return "\n".join(lines)


class ConsoleOptions(ChannelOptions):
    colour: bool | None = Field(None, description="ANSI colours; default: when stdout is a terminal")


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
        self.options = parse_options(ConsoleOptions, config.options)
        self.templates = Templates.load(self.options.lang, self.options.templates)

    async def send(self, events: Sequence[AlertEvent]) -> None:
        out = self.stream or sys.stdout
        colour = self.options.colour if self.options.colour is not None else out.isatty()
        for event in events:
            out.write(render_card(event, colour=colour, templates=self.templates) + "\n")
        out.flush()

    async def close(self) -> None:
        return None
