"""DingTalk custom robot (钉钉自定义机器人): markdown or actionCard, signed in the URL.

Signing ("加签"): HMAC-SHA256 keyed with the secret over ``timestamp_ms + "\\n" + secret``,
base64, sent as ``timestamp`` and ``sign`` query parameters next to the webhook's own
``access_token``. The robot takes 20 messages a minute and mutes itself for 10 minutes
past that (errcode 130101), so the dispatcher's bucket stays at 20/min.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import field_validator

from sentinel.notify.base import NotifyError
from sentinel.notify.http import ChannelOptions, HttpNotifier, Request, http_error
from sentinel.notify.markdown import digest_lines, event_lines, fit_lines, more_line
from sentinel.notify.message import digest_view, event_view
from sentinel.notify.sanitize import one_line, redact_text
from sentinel.risk.base import AlertEvent

__all__ = ["DingTalkNotifier", "DingTalkOptions", "dingtalk_sign", "signed_url"]

MAX_TEXT_CHARS = 5000  # markdown.text / actionCard.text
THROTTLED = 130101  # "send too fast, exceed 20 times per minute" -> muted ~10 minutes
# 310000: security settings failed (sign not match, invalid timestamp, keywords, IP);
# 300001/300005: bad or unknown access_token; 400013: group dissolved; 400101/400102: robot
# disabled or stopped; 34014/34016/40035: the message itself is malformed or too long
PERMANENT = {310000, 300001, 300005, 400013, 400101, 400102, 34014, 34016, 40035, 43004}
_MOBILE = re.compile(r"^\+?[\d-]{5,20}$")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}")), not yet URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The webhook URL with ``timestamp`` and ``sign`` added to its query, encoded exactly once.

    httpx's ``params=`` would replace the query (dropping ``access_token``), so the
    parameters are merged here and the finished URL is handed to httpx as a string.
    """
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("timestamp", "sign")
    ]
    query += [("timestamp", str(timestamp_ms)), ("sign", dingtalk_sign(secret, timestamp_ms))]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


class DingTalkOptions(ChannelOptions):
    """``style``: markdown (default) or actioncard (a card with a button to the first sample post)."""

    style: Literal["markdown", "actioncard"] = "markdown"

    @field_validator("mentions")
    @classmethod
    def _mobiles(cls, v: list[str]) -> list[str]:
        for m in v:
            if not _MOBILE.match(m):
                raise ValueError(f"DingTalk mentions are mobile numbers, got {m!r}")
        return v


class DingTalkNotifier(HttpNotifier):
    """Posts alert cards to a DingTalk group robot.

    ``[[notify]] type = "dingtalk"``, ``url = "env:DINGTALK_URL"`` (with its access_token),
    ``secret = "env:DINGTALK_SECRET"`` (the SEC… signing secret), ``mentions = ["138…"]``.
    """

    Options = DingTalkOptions
    options: DingTalkOptions
    default_rate_limits = ((20, 60.0),)
    throttle_seconds = 600.0

    def payload(self, events: Sequence[AlertEvent]) -> dict[str, Any]:
        tpl, o = self.templates, self.options
        mentions = self.mentions_for(events)
        tail = [" ".join(f"@{m}" for m in mentions)] if mentions else []
        button_url: str | None = None
        if len(events) == 1:
            view = event_view(
                events[0],
                tpl,
                max_factors=o.max_factors,
                max_samples=o.max_samples,
                sample_chars=o.sample_chars,
            )
            title, lines = view.title, event_lines(view)
            button_url = next((s.url for s in view.samples if s.url), None)
            button_label = view.open_link
        else:
            digest = digest_view(events, tpl)
            title, lines = digest.title, digest_lines(digest)
            button_label = ""
        # DingTalk markdown needs a blank line (or two trailing spaces) for a line break
        text = fit_lines(lines, MAX_TEXT_CHARS, sep="\n\n", tail=tail, more=more_line(tpl))
        title = one_line(title, 60)
        at = {"atMobiles": mentions, "isAtAll": False}
        if o.style == "actioncard" and button_url:
            card = {
                "title": title,
                "text": text,
                "btnOrientation": "0",
                "singleTitle": button_label,
                "singleURL": button_url,
            }
            return {"msgtype": "actionCard", "actionCard": card, "at": at}
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at}

    def prepare(self, body: dict[str, Any]) -> Request:
        url = signed_url(self.url, self.secret, self.now_ms()) if self.secret else self.url
        return Request(url, body)

    def classify(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise http_error(self.channel, response)
        data = self.json_answer(response)
        code = data.get("errcode", 0)
        if code == 0:
            return
        msg = f"{self.channel}: errcode {code}: {redact_text(str(data.get('errmsg', '')))[:200]}"
        if code == THROTTLED:
            raise NotifyError(msg, retryable=True, retry_after=self.throttle_seconds)
        raise NotifyError(msg, retryable=code not in PERMANENT)
