"""Slack incoming webhook: a ``text`` fallback plus Block Kit, coloured by level.

Slack answers ``200 ok`` or an HTTP error with a short reason in the body
(``invalid_payload``, ``no_service``, ``channel_not_found``, ``channel_is_archived``,
``action_prohibited``); 429 carries ``Retry-After``. About one message a second per
webhook, with short bursts allowed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import field_validator

from sentinel.notify.base import NotifyError
from sentinel.notify.http import ChannelOptions, HttpNotifier, http_error
from sentinel.notify.message import digest_view, event_view
from sentinel.notify.sanitize import one_line, truncate_chars
from sentinel.risk.base import AlertEvent

__all__ = ["SlackNotifier", "SlackOptions", "slack_escape"]

MAX_FALLBACK = 3000
MAX_SECTION = 3000
MAX_HEADER = 150
_MENTION = re.compile(r"^(here|channel|[UW][A-Z0-9]{2,20}|subteam\^[A-Z0-9]{2,20})$")


def slack_escape(text: str) -> str:
    """Slack's own rule: ``&``, ``<`` and ``>`` are control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mention(m: str) -> str:
    if m in ("here", "channel"):
        return f"<!{m}>"
    if m.startswith("subteam^"):
        return f"<!{m}>"
    return f"<@{m}>"


class SlackOptions(ChannelOptions):
    """``mentions``: user ids (U…), user-group ids (subteam^S…), "here" or "channel"."""

    @field_validator("mentions")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for m in v:
            if not _MENTION.match(m):
                raise ValueError(f"Slack mentions are user ids (U…), subteam^ID, here or channel; got {m!r}")
        return v


class SlackNotifier(HttpNotifier):
    """Posts alerts to a Slack incoming webhook (``url = "env:SLACK_WEBHOOK_URL"``)."""

    Options = SlackOptions
    default_rate_limits = ((1, 1.0),)

    def payload(self, events: Sequence[AlertEvent]) -> dict[str, Any]:
        tpl, o = self.templates, self.options
        mentions = " ".join(_mention(m) for m in self.mentions_for(events))
        blocks: list[dict[str, Any]] = []
        detail: list[dict[str, Any]] = []

        def section(text: str, into: list[dict[str, Any]]) -> None:
            into.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(text, MAX_SECTION)}}
            )

        if len(events) == 1:
            view = event_view(
                events[0],
                tpl,
                max_factors=o.max_factors,
                max_samples=o.max_samples,
                sample_chars=o.sample_chars,
            )
            title, colour = view.title, view.colour
            blocks.append(
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": one_line(title, MAX_HEADER), "emoji": True},
                }
            )
            head = [f"*{slack_escape(view.risk_line)}*", slack_escape(view.at_line)]
            head += [slack_escape(x) for x in (view.previous_line, view.acked_line) if x]
            section("\n".join(head), blocks)
            if mentions:
                section(mentions, blocks)
            if view.factor_lines:
                section(
                    "\n".join(
                        [
                            f"*{slack_escape(view.factors_heading)}*",
                            *(f"• {slack_escape(f)}" for f in view.factor_lines),
                        ]
                    ),
                    detail,
                )
            for s in view.samples:
                link = f" <{s.url}|{slack_escape(view.open_link)}>" if s.url else ""
                section(f"> {slack_escape(s.line)}{link}", detail)
            detail.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(view.footer)}]}
            )
            fallback = " · ".join([title, view.risk_line, view.at_line])
        else:
            digest = digest_view(events, tpl)
            title, colour = digest.title, digest.colour
            blocks.append(
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": one_line(title, MAX_HEADER), "emoji": True},
                }
            )
            if mentions:
                section(mentions, blocks)
            # one section per ~20 lines keeps each under Slack's 3000-character section limit
            for i in range(0, min(len(digest.lines), 40 * 20), 20):
                section("\n".join(slack_escape(x) for x in digest.lines[i : i + 20]), detail)
            fallback = title
        return {
            "text": truncate_chars(slack_escape(fallback), MAX_FALLBACK),
            "blocks": blocks,
            "attachments": [{"color": colour, "blocks": detail}],
        }

    def classify(self, response: httpx.Response) -> None:
        if response.status_code == 200:
            return
        err = http_error(self.channel, response)
        # 400 invalid_payload, 403 action_prohibited, 404 no_service / channel_not_found,
        # 410 channel_is_archived: retrying cannot help; 429 and 5xx can
        raise NotifyError(str(err), retryable=err.retryable, retry_after=err.retry_after)
