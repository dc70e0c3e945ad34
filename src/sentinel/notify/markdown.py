"""Markdown bodies for the Chinese chat services (DingTalk, WeCom, Feishu lark_md).

They speak slightly different dialects, so each passes its own heading marker, line
separator and size measure; the content and its order are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sentinel.notify.message import DigestView, EventView, Templates
from sentinel.notify.sanitize import ELLIPSIS

__all__ = ["digest_lines", "event_lines", "fit_lines", "more_line", "utf8_len"]


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def event_lines(view: EventView, *, heading: str = "### ", quote: str = "> ") -> list[str]:
    """Title, risk, time, acknowledgement, factors, samples (with links) — in that order."""
    lines = [f"{heading}{view.title}".strip(), f"**{view.risk_line}**", view.at_line]
    if view.console_url:
        lines.append(f"[{view.console_label}]({view.console_url})")
    if view.previous_line:
        lines.append(view.previous_line)
    if view.acked_line:
        lines.append(view.acked_line)
    if view.factor_lines:
        lines.append(f"**{view.factors_heading}**")
        lines += [f"- {f}" for f in view.factor_lines]
    if view.samples:
        lines.append(f"**{view.samples_heading}**")
        for s in view.samples:
            link = f" [{view.open_link}]({s.url})" if s.url else ""
            lines.append(f"{quote}{s.line}{link}")
    return lines


def digest_lines(view: DigestView, *, heading: str = "### ") -> list[str]:
    return [f"{heading}{view.title}".strip(), *(f"- {line}" for line in view.lines)]


def fit_lines(
    lines: Sequence[str],
    limit: int,
    *,
    sep: str = "\n",
    measure: Callable[[str], int] = len,
    tail: Sequence[str] = (),
    more: Callable[[int], str] | None = None,
) -> str:
    """Join whole lines while they fit in ``limit`` (with ``tail`` always kept at the end).

    Lines are dropped whole from the end rather than cut, so no link or emphasis is left
    open; ``more(n)`` says how many were left out. A single over-long line is cut on a
    character boundary.
    """
    tail_text = sep.join(tail)
    budget = limit - (measure(sep + tail_text) if tail else 0)
    kept: list[str] = []
    for i, line in enumerate(lines):
        candidate = sep.join([*kept, line])
        note = more(len(lines) - i - 1) if more and i < len(lines) - 1 else ""
        if measure(candidate) + (measure(sep + note) if note else 0) <= budget:
            kept.append(line)
            continue
        if not kept:  # even the first line is too long: cut it
            room = budget - measure(ELLIPSIS)
            cut = line
            while cut and measure(cut) > room:
                cut = cut[: max(0, len(cut) - max(1, (measure(cut) - room) // 4))]
            kept.append(cut + ELLIPSIS)
        if more:
            kept.append(more(len(lines) - len(kept)))
        break
    body = sep.join(kept)
    suffix = sep + tail_text if tail else ""
    # the "n more" note can be a digit longer than the one measured above: cut, never overflow
    while body and measure(body + suffix) > limit:
        body = body[: -max(1, (measure(body + suffix) - limit) // 4)]
    return body + suffix


def more_line(tpl: Templates) -> Callable[[int], str]:
    return lambda n: tpl.text("more", count=n)
