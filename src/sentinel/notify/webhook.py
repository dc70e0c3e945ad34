"""Generic webhook: the alert event as JSON, optionally signed with HMAC-SHA256.

Body: the event record (``AlertEvent.to_record``) for one event, or
``{"digest": true, "events": [...]}`` when a rate limit (``rate_limit``) made a digest.
Headers: ``X-Sentinel-Event-Ids`` (to de-duplicate), and with a ``secret``
``X-Sentinel-Timestamp`` and ``X-Sentinel-Signature: sha256=<hex of HMAC(secret,
timestamp + "." + body)>`` — the receiver recomputes it and rejects stale timestamps.
Sample post text, author names, post ids (``samples[].id``, ``posts``), every other string
in a sample and string factors are neutralised (and sample URLs checked) unless
``raw_text = true``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from sentinel.notify.http import ChannelOptions, HttpNotifier, Request
from sentinel.notify.sanitize import neutralize, safe_url
from sentinel.risk.base import AlertEvent

__all__ = ["GenericWebhookNotifier", "WebhookOptions", "webhook_signature"]


def _inert(value: Any) -> Any:
    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, dict):
        return {k: _inert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_inert(v) for v in value]
    return value


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class WebhookOptions(ChannelOptions):
    signature_header: str = "X-Sentinel-Signature"
    headers: dict[str, str] = Field(default_factory=dict)
    raw_text: bool = False


class GenericWebhookNotifier(HttpNotifier):
    """POSTs alert events as JSON to any URL (``type = "webhook"``)."""

    Options = WebhookOptions
    options: WebhookOptions

    def _record(self, event: AlertEvent) -> dict[str, Any]:
        rec = event.to_record()
        if not self.options.raw_text:
            # receivers often forward this to a chat tool; keep it as inert as our own cards
            rec["samples"] = [
                {
                    **_inert(s),  # ids and any other field come from strangers too
                    "text": neutralize(s.get("text") or ""),
                    "author": neutralize(s.get("author") or ""),
                    "url": safe_url(s.get("url")),
                }
                for s in event.samples
            ]
            rec["factors"] = _inert(event.factors)
            rec["posts"] = [neutralize(p) for p in event.posts]
        return rec

    def payload(self, events: Sequence[AlertEvent]) -> dict[str, Any]:
        if len(events) == 1:
            return self._record(events[0])
        return {"digest": True, "events": [self._record(e) for e in events]}

    def prepare(self, body: dict[str, Any]) -> Request:
        events = body.get("events") or [body]
        ids = ",".join(str(e.get("id")) for e in events)
        request = Request(self.url, body, {**self.options.headers, "X-Sentinel-Event-Ids": ids})
        if self.secret:
            ts = self.now_ms() // 1000
            request.headers["X-Sentinel-Timestamp"] = str(ts)
            request.headers[self.options.signature_header] = webhook_signature(self.secret, ts, request.body)
        return request
