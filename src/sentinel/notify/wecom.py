"""WeCom group robot (企业微信群机器人): markdown, at most 4096 bytes, 20 messages a minute.

The key is in the URL (``…/webhook/send?key=…``); there is no signing. Members are
mentioned with ``<@userid>`` inside markdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import field_validator

from sentinel.notify.base import NotifyError
from sentinel.notify.http import ChannelOptions, HttpNotifier, http_error
from sentinel.notify.markdown import digest_lines, event_lines, fit_lines, more_line, utf8_len
from sentinel.notify.message import digest_view, event_view
from sentinel.notify.sanitize import redact_text
from sentinel.risk.base import AlertEvent

__all__ = ["WeComNotifier", "WeComOptions"]

MAX_CONTENT_BYTES = 4096
THROTTLED = 45009  # "api freq out of limit"
# 93000: invalid webhook url (key); 40058: content too long / bad parameter; 40008: bad
# msgtype; 44004: empty content; 93004/93008: robot disabled or not in the group
PERMANENT = {93000, 40058, 40008, 44004, 93004, 93008, 40001, 40014}
_COLOURS = {"blue": "info", "yellow": "comment", "orange": "warning", "red": "warning"}
_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class WeComOptions(ChannelOptions):
    @field_validator("mentions")
    @classmethod
    def _userids(cls, v: list[str]) -> list[str]:
        for m in v:
            if not _USERID.match(m) or m.lower() in ("@all", "all"):
                raise ValueError(f"WeCom mentions are member userids, got {m!r}")
        return v


class WeComNotifier(HttpNotifier):
    """Posts markdown alerts to a WeCom group robot (``url = "env:WECOM_URL"``)."""

    Options = WeComOptions
    default_rate_limits = ((20, 60.0),)

    def payload(self, events: Sequence[AlertEvent]) -> dict[str, Any]:
        tpl, o = self.templates, self.options
        if len(events) == 1:
            view = event_view(
                events[0],
                tpl,
                max_factors=o.max_factors,
                max_samples=o.max_samples,
                sample_chars=o.sample_chars,
            )
            lines = event_lines(view, heading="### ")
            colour = _COLOURS.get(view.level, "comment")
            lines[0] = f'### <font color="{colour}">{view.title}</font>'
        else:
            lines = digest_lines(digest_view(events, tpl), heading="### ")
        mentions = self.mentions_for(events)
        tail = [" ".join(f"<@{m}>" for m in mentions)] if mentions else []
        content = fit_lines(
            lines, MAX_CONTENT_BYTES, sep="\n", measure=utf8_len, tail=tail, more=more_line(tpl)
        )
        return {"msgtype": "markdown", "markdown": {"content": content}}

    def classify(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise http_error(self.channel, response)
        data = self.json_answer(response)
        code = data.get("errcode", 0)
        if code == 0:
            return
        msg = f"{self.channel}: errcode {code}: {redact_text(str(data.get('errmsg', '')))[:200]}"
        if code == THROTTLED:
            raise NotifyError(msg, retryable=True, retry_after=60.0)
        raise NotifyError(msg, retryable=code not in PERMANENT)
