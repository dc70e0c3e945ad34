"""A briefing announced on a channel: a short card with a link, in each service's own shape.

The alert notifiers know how to sign and post (``prepare``, ``client``, ``classify``); this
module only writes the body each service expects for a card that is not an alert: DingTalk
and WeCom markdown, a Feishu interactive card with a button, Slack blocks, the generic
webhook's JSON. Mail channels get the whole briefing instead
(:meth:`~sentinel.notify.smtp.SmtpNotifier.send_mail`). Every line is neutralised like an
alert's (post text and author names come from strangers).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from sentinel.notify.base import Notifier, NotifyError
from sentinel.notify.sanitize import neutralize, redact_text, safe_url

__all__ = ["BriefingCard", "card_payload", "send_card"]


@dataclass(frozen=True, slots=True)
class BriefingCard:
    title: str
    lines: list[str]
    link: str | None
    link_text: str
    colour: str = "#607D8B"

    def clean(self) -> BriefingCard:
        return BriefingCard(
            neutralize(self.title, 120),
            [neutralize(line, 400) for line in self.lines],
            safe_url(self.link),
            neutralize(self.link_text, 40),
            self.colour,
        )


def _markdown(card: BriefingCard, heading: str = "### ") -> str:
    lines = [f"{heading}{card.title}", *(f"- {line}" for line in card.lines)]
    if card.link:
        lines.append(f"[{card.link_text}]({card.link})")
    return "\n".join(lines)


def _dingtalk(card: BriefingCard) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": card.title, "text": _markdown(card)}}


def _wecom(card: BriefingCard) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": _markdown(card)}}


def _feishu(card: BriefingCard) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [
        {"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(f"- {x}" for x in card.lines)}}
    ]
    if card.link:
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": card.link_text},
                        "url": card.link,
                        "type": "primary",
                    }
                ],
            }
        )
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": card.title}, "template": "blue"},
            "elements": elements,
        },
    }


def _slack(card: BriefingCard) -> dict[str, Any]:
    text = "\n".join(f"• {x}" for x in card.lines)
    if card.link:
        text += f"\n<{card.link}|{card.link_text}>"
    return {
        "text": card.title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": card.title[:150], "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        ],
    }


def _webhook(card: BriefingCard) -> dict[str, Any]:
    return {"briefing": {"title": card.title, "lines": card.lines, "link": card.link}}


_PAYLOADS: dict[str, Callable[[BriefingCard], dict[str, Any]]] = {
    "dingtalk": _dingtalk,
    "wecom": _wecom,
    "feishu": _feishu,
    "lark": _feishu,
    "slack": _slack,
    "webhook": _webhook,
}


def card_payload(kind: str, card: BriefingCard) -> dict[str, Any] | None:
    """The body a ``kind`` channel posts for ``card`` (None: the channel takes no cards)."""
    build = _PAYLOADS.get(kind)
    return None if build is None else build(card.clean())


async def send_card(notifier: Notifier, card: BriefingCard) -> None:
    """Post ``card`` through ``notifier`` (signed and checked as its alerts are)."""
    kind = notifier.config.type
    if kind == "console":
        clean = card.clean()
        out = getattr(notifier, "stream", None) or sys.stdout
        out.write(_markdown(clean, heading="") + "\n")
        out.flush()
        return
    body = card_payload(kind, card)
    if body is None:
        raise NotifyError(f"{notifier.channel}: a {kind} channel takes no briefing cards", retryable=False)
    from sentinel.notify.http import HttpNotifier

    if not isinstance(notifier, HttpNotifier):
        raise NotifyError(f"{notifier.channel}: cannot post a card", retryable=False)
    request = notifier.prepare(body)
    try:
        response = await notifier.client.post(request.url, content=request.body, headers=request.headers)
    except httpx.HTTPError as exc:
        raise NotifyError(
            f"{notifier.channel}: {type(exc).__name__}: {redact_text(str(exc))}", retryable=True
        ) from None
    notifier.classify(response)
