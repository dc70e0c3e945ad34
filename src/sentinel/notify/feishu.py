"""Feishu / Lark custom bot (飞书自定义机器人): an interactive card, signed in the body.

Signing differs from DingTalk: the HMAC-SHA256 *key* is ``timestamp_s + "\\n" + secret``
and the message is empty; ``timestamp`` (seconds, as a string) and ``sign`` go in the
JSON body. Limits: 5 requests a second and 100 a minute per bot, 20 KB per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import field_validator

from sentinel.notify.base import NotifyError
from sentinel.notify.http import ChannelOptions, HttpNotifier, Request, http_error, retry_after
from sentinel.notify.markdown import fit_lines, more_line, utf8_len
from sentinel.notify.message import digest_view, event_view
from sentinel.notify.sanitize import one_line, redact_text
from sentinel.risk.base import AlertEvent

__all__ = ["FeishuNotifier", "FeishuOptions", "feishu_sign"]

MAX_BODY_BYTES = 20 * 1024
_BUDGET = 16 * 1024  # for the card's text; the JSON around it and the signature need the rest
THROTTLED = {11232, 99991400}  # "frequency limited"
# 19021: sign match fail or timestamp not within an hour; 19022: IP not allowed; 19024:
# keywords not found; 9499: bad request; 19001/19002: bad webhook token or parameters;
# 19036: message too large
PERMANENT = {19021, 19022, 19024, 9499, 19001, 19002, 19036}
_TEMPLATES = {"blue": "blue", "yellow": "yellow", "orange": "orange", "red": "red"}
_OPEN_ID = re.compile(r"^(all|o[un]_[A-Za-z0-9]{8,64})$")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key=f"{timestamp_s}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FeishuOptions(ChannelOptions):
    @field_validator("mentions")
    @classmethod
    def _open_ids(cls, v: list[str]) -> list[str]:
        for m in v:
            if not _OPEN_ID.match(m):
                raise ValueError(f"Feishu mentions are open_ids (ou_…) or 'all', got {m!r}")
        return v


class FeishuNotifier(HttpNotifier):
    """Posts alert cards to a Feishu/Lark group bot (``url = "env:FEISHU_URL"``, ``secret = …``)."""

    Options = FeishuOptions
    default_rate_limits = ((5, 1.0), (100, 60.0))

    def _card(self, events: Sequence[AlertEvent]) -> dict[str, Any]:
        tpl, o = self.templates, self.options
        mentions = self.mentions_for(events)
        tail = [" ".join(f"<at id={m}></at>" for m in mentions)] if mentions else []
        elements: list[dict[str, Any]] = []

        def md(text: str) -> None:
            elements.append({"tag": "div", "text": {"tag": "lark_md", "content": text}})

        if len(events) == 1:
            view = event_view(
                events[0],
                tpl,
                max_factors=o.max_factors,
                max_samples=o.max_samples,
                sample_chars=o.sample_chars,
            )
            title, template = view.title, _TEMPLATES.get(view.level, "grey")
            head = [f"**{view.risk_line}**", view.at_line]
            head += [x for x in (view.previous_line, view.acked_line) if x]
            md("\n".join(head))
            budget = _BUDGET
            if view.factor_lines:
                md("\n".join([f"**{view.factors_heading}**", *(f"- {f}" for f in view.factor_lines)]))
            if view.samples:
                lines = [f"**{view.samples_heading}**"]
                for s in view.samples:
                    link = f" [{view.open_link}]({s.url})" if s.url else ""
                    lines.append(f"{s.line}{link}")
                md(
                    fit_lines(
                        lines, budget - utf8_len(json.dumps(elements, ensure_ascii=False)), measure=utf8_len
                    )
                )
            if tail:
                md(tail[0])
        else:
            digest = digest_view(events, tpl)
            title, template = digest.title, _TEMPLATES.get(digest.worst_level, "grey")
            md(fit_lines(digest.lines, _BUDGET, measure=utf8_len, tail=tail, more=more_line(tpl)))
        elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": tpl.text("footer")}]})
        return {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": one_line(title, 100)}, "template": template},
            "elements": elements,
        }

    def payload(self, events: Sequence[AlertEvent]) -> dict[str, Any]:
        return {"msg_type": "interactive", "card": self._card(events)}

    def prepare(self, body: dict[str, Any]) -> Request:
        if self.secret:
            ts = self.now_ms() // 1000
            body = {"timestamp": str(ts), "sign": feishu_sign(self.secret, ts), **body}
        return Request(self.url, body)

    def classify(self, response: httpx.Response) -> None:
        try:
            data = self.json_answer(response)
        except NotifyError:
            raise
        code = data.get("code", data.get("StatusCode", 0 if response.status_code < 300 else -1))
        if response.status_code < 300 and code == 0:
            return
        if code in (0, -1):
            raise http_error(self.channel, response)
        msg = f"{self.channel}: code {code}: {redact_text(str(data.get('msg', '')))[:200]}"
        if code in THROTTLED or response.status_code == 429:
            raise NotifyError(msg, retryable=True, retry_after=retry_after(response, 60.0))
        raise NotifyError(msg, retryable=code not in PERMANENT)
