"""What every webhook notifier shares: options, one httpx client, error classification.

A channel module subclasses :class:`HttpNotifier` and writes only what differs:
``payload`` (the service's JSON for one event or a digest), ``prepare`` (signing) and
``classify`` (reading the service's answer). Errors it raises are
:class:`~sentinel.notify.base.NotifyError` with ``retryable`` set the way the service's
documentation says, and messages that never contain the webhook's secrets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sentinel import __version__
from sentinel.clock import Clock
from sentinel.config import NotifyConfig, level_rank, parse_duration, parse_options
from sentinel.notify.base import NotifyError
from sentinel.notify.message import Templates
from sentinel.notify.ratelimit import parse_rate
from sentinel.notify.sanitize import redact_text, redact_url
from sentinel.obs.logs import register_secret, register_url
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent
from sentinel.times import retry_after_seconds

__all__ = ["ChannelOptions", "HttpNotifier", "Request", "http_error", "parse_options", "retry_after"]


class ChannelOptions(BaseModel):
    """Options every chat channel takes in its ``[[notify]]`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lang: Literal["zh", "en"] = "zh"
    templates: str | None = Field(None, description="a TOML file overriding some template keys")
    timeout: float = 10.0
    rate_limit: list[str] | None = Field(None, description='e.g. ["20/min"]; default: the service\'s limit')
    max_digest: int = Field(20, ge=1, le=200, description="events per digest message at most")
    max_samples: int = Field(3, ge=0, le=10)
    max_factors: int = Field(4, ge=0, le=12)
    sample_chars: int = Field(140, ge=10, le=1000)
    mentions: list[str] = Field(default_factory=list, description="who to @ (ids or mobiles, per service)")
    mention_level: Literal["blue", "yellow", "orange", "red"] = "orange"

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rates(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        for r in v or []:
            parse_rate(r)
        return v


OptionsT = TypeVar("OptionsT", bound=ChannelOptions)


def retry_after(response: httpx.Response, default: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date), else ``default``."""
    seconds = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
    return default if seconds is None else seconds


def _snippet(response: httpx.Response) -> str:
    return redact_text(response.text[:200].replace("\n", " "))


def http_error(channel: str, response: httpx.Response) -> NotifyError:
    """The generic reading of an HTTP failure: 429, 408 and 5xx are worth retrying, other 4xx are not."""
    status = response.status_code
    detail = f"{channel}: HTTP {status}: {_snippet(response)}"
    if status == 429:
        return NotifyError(detail, retryable=True, retry_after=retry_after(response, 60.0))
    if status == 408 or status >= 500:
        return NotifyError(detail, retryable=True, retry_after=retry_after(response))
    return NotifyError(detail, retryable=False)


class Request:
    """One HTTP POST a notifier is about to make."""

    __slots__ = ("body", "headers", "url")

    def __init__(self, url: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.body = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}


class HttpNotifier:
    """Base for the chat-webhook notifiers; owns one ``httpx.AsyncClient``."""

    Options: ClassVar[type[ChannelOptions]] = ChannelOptions
    default_rate_limits: ClassVar[tuple[tuple[int, float], ...]] = ()

    def __init__(
        self,
        config: NotifyConfig,
        *,
        clock: Clock,
        metrics: Metrics,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.channel = config.channel
        self.clock = clock
        self.metrics = metrics
        self.options = parse_options(self.Options, config.options)
        if not config.url:
            raise ValueError("url: required (the webhook address; use env:NAME to keep it out of the file)")
        scheme = config.url.split("://", 1)[0].lower()
        if scheme not in ("http", "https") or "://" not in config.url:
            raise ValueError(f"url: must be an http(s) address, got {redact_url(config.url)}")
        self.url = config.url
        self.secret = config.secret or None
        # httpx logs each request URL: a token anywhere in it (a generic webhook's path) is masked
        register_url(self.url)
        register_secret(self.secret)
        self.templates = Templates.load(self.options.lang, self.options.templates)
        self.rate_limits = (
            tuple(parse_rate(r) for r in self.options.rate_limit)
            if self.options.rate_limit
            else self.default_rate_limits
        )
        self.max_digest = self.options.max_digest
        self.client = httpx.AsyncClient(
            timeout=self.options.timeout,
            transport=transport,
            follow_redirects=False,  # a redirect would re-send the secret-bearing body elsewhere
            headers={"User-Agent": f"sentinel/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channel={self.channel!r}, url={redact_url(self.url)!r})"

    # -- what subclasses write -------------------------------------------------------------

    def payload(self, events: Sequence[AlertEvent]) -> dict[str, Any]:
        raise NotImplementedError

    def prepare(self, body: dict[str, Any]) -> Request:
        """Sign and address the request (DingTalk signs the URL, Feishu the body)."""
        return Request(self.url, body)

    def classify(self, response: httpx.Response) -> None:
        """Raise NotifyError unless the service accepted the message."""
        if response.status_code >= 300:
            raise http_error(self.channel, response)

    # -- shared ----------------------------------------------------------------------------

    def mentions_for(self, events: Sequence[AlertEvent]) -> list[str]:
        """The configured people to @, when any event is at or above ``mention_level``."""
        if not self.options.mentions:
            return []
        threshold = level_rank(self.options.mention_level)
        if any(level_rank(e.level) >= threshold and e.event in ("opened", "escalated") for e in events):
            return list(self.options.mentions)
        return []

    def now_ms(self) -> int:
        """Signing time. Services reject signatures over an hour old, so this is wall time,
        never the (possibly replayed) event time of a backtest clock."""
        return int(time.time() * 1000)

    async def send(self, events: Sequence[AlertEvent]) -> None:
        if not events:
            return
        request = self.prepare(self.payload(events))
        try:
            response = await self.client.post(request.url, content=request.body, headers=request.headers)
        except httpx.TimeoutException:
            raise NotifyError(
                f"{self.channel}: timed out after {self.options.timeout:g}s", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            # the exception text can hold the URL; say what kind of failure it was, not where
            raise NotifyError(
                f"{self.channel}: {type(exc).__name__}: {redact_text(str(exc))}", retryable=True
            ) from None
        self.classify(response)

    async def close(self) -> None:
        await self.client.aclose()

    def json_answer(self, response: httpx.Response) -> dict[str, Any]:
        """The service's JSON answer; a non-JSON 2xx is an error worth retrying (a proxy page)."""
        try:
            data = response.json()
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json decodes
            if response.status_code >= 300:
                raise http_error(self.channel, response) from None
            raise NotifyError(
                f"{self.channel}: HTTP {response.status_code}, not JSON: {_snippet(response)}", retryable=True
            ) from None
        if not isinstance(data, dict):
            raise NotifyError(f"{self.channel}: unexpected answer {_snippet(response)}", retryable=True)
        return data
