"""What every polling HTTP collector shares: the client, retries, rate limits, run backoff, cursors.

* :class:`HttpFetcher` - one ``httpx.AsyncClient`` per source (timeouts, connection limits,
  cookie), retries with exponential backoff and jitter that honour ``Retry-After``, a
  per-host rate limit shared by every source in the process, ``ETag`` /
  ``If-Modified-Since`` validators, and a cap on body size. Every failure is a
  :class:`FetchError` whose ``kind`` is a metric label: ``timeout``, ``connect``,
  ``http_429``, ``http_5xx``, ``http_4xx``, ``blocked``, ``too_large``, ``bad_json``,
  ``bad_encoding``, ``transport``.
* :class:`RunGate` - backoff *between* runs: after a failed or blocked run the source
  sits out its next runs instead of hammering a platform that already said no.
* :class:`RecentKeys` and :func:`load_cursor` / :func:`save_cursor` - no duplicates
  within a process, no gap and no duplicate across restarts.

>>> opts = HttpOptions(base_url="http://127.0.0.1:8080", rate=0)
>>> opts.max_pages
5
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sentinel.clock import Clock
from sentinel.config import Duration, parse_options
from sentinel.obs.logs import redact_url
from sentinel.post import RecentKeys
from sentinel.sources.base import CursorStore, PostSink, SourceContext, SourceHealth
from sentinel.times import retry_after_seconds

__all__ = [
    "BLOCKED_STATUSES",
    "FetchError",
    "FetchResult",
    "HostRateLimiter",
    "HttpFetcher",
    "HttpOptions",
    "PollingSource",
    "RecentKeys",
    "RunGate",
    "SeenSet",
    "count_error",
    "load_cursor",
    "parse_options",
    "redact_url",
    "save_cursor",
    "with_secrets",
]

log = logging.getLogger(__name__)

# 432 is Weibo's own "request refused" (anti-crawler); 418 some CDNs' equivalent.
BLOCKED_STATUSES = frozenset({401, 403, 418, 432})
RETRYABLE = frozenset({"timeout", "connect", "transport", "http_429", "http_5xx", "bad_json", "bad_encoding"})
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
OptionsT = TypeVar("OptionsT", bound=BaseModel)


class HttpOptions(BaseModel):
    """Options every HTTP source accepts (``[[source]]`` keys); sources extend this model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = ""
    timeout: Duration = 10.0
    connect_timeout: Duration = 5.0
    max_connections: int = Field(4, ge=1, le=100)
    retries: int = Field(3, ge=0, le=10, description="extra attempts per request")
    backoff: Duration = Field(1.0, description="first retry delay; doubles per attempt, with jitter")
    backoff_max: Duration = 30.0
    retry_after_max: Duration = Field(60.0, description="a longer Retry-After ends the run instead")
    rate: float = Field(1.0, ge=0, description="requests per second per host; 0 = unlimited")
    max_pages: int = Field(5, ge=1, le=1000, description="pages per run")
    max_body: int = Field(8 * 1024 * 1024, ge=1024, description="bytes per response")
    fail_backoff: Duration = Field(60.0, description="runs skipped after a failure: first pause")
    blocked_backoff: Duration = Field(900.0, description="runs skipped after a block: first pause")
    max_run_backoff: Duration = 3600.0
    user_agent: str = DEFAULT_USER_AGENT
    headers: dict[str, str] = Field(default_factory=dict)
    cookie: str | None = Field(None, repr=False)  # resolved from env: by config; never logged
    proxy: str | None = None
    verify: bool = True


class FetchError(Exception):
    """A failed fetch; ``kind`` is the metric label, ``blocked`` marks the source blocked."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        status: int | None = None,
        blocked: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.status = status
        self.blocked = blocked
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE and not self.blocked


@dataclass(slots=True)
class FetchResult:
    """One successful response: the body (capped), its headers, and ``data`` once decoded."""

    url: str
    status: int
    body: bytes
    headers: httpx.Headers
    data: Any = None  # the decoded JSON, filled by ``get_json``

    def json(self) -> Any:
        """The body as JSON; ``bad_encoding`` / ``bad_json`` FetchErrors otherwise."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FetchError("bad_encoding", f"{self.url}: {exc.reason} at byte {exc.start}") from None
        try:
            return json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise FetchError("bad_json", f"{self.url}: {str(exc)[:120]}") from None


class HostRateLimiter:
    """Spaces requests to one host at least ``1/rate`` seconds apart, across sources.

    No lock: the reservation below has no ``await`` in it, and one event loop runs it.
    """

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    async def wait(self, host: str, rate: float) -> None:
        if rate <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next.get(host, 0.0))
        self._next[host] = start + 1.0 / rate
        if start > now:
            await asyncio.sleep(start - now)


# Shared so that two sources pointed at m.weibo.cn share one budget.
HOST_LIMITER = HostRateLimiter()


def _is_login_page(url: httpx.URL) -> bool:
    return "passport" in url.host or any(part in url.path.lower() for part in ("/login", "/signin"))


class HttpFetcher:
    """One source's HTTP client; ``get`` returns a body or raises :class:`FetchError`.

    ``on_retry(kind, detail)`` hears every attempt that failed and was retried, so that
    error counters show each 429 and 5xx, not only the runs that finally failed.
    """

    def __init__(
        self,
        options: HttpOptions,
        *,
        clock: Clock,
        on_retry: Callable[[str, str], None] | None = None,
        limiter: HostRateLimiter | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options
        self.clock = clock
        self.on_retry = on_retry or (lambda kind, detail: None)
        self.limiter = limiter or HOST_LIMITER
        self.rng = rng or random.Random()
        self.sleep = sleep
        self._validators: dict[str, tuple[str | None, str | None]] = {}
        headers = {"User-Agent": options.user_agent, "Accept": "application/json, text/plain, */*"}
        headers.update(options.headers)
        if options.cookie:
            headers["Cookie"] = options.cookie
        self.client = httpx.AsyncClient(
            base_url=options.base_url,
            headers=headers,
            timeout=httpx.Timeout(options.timeout, connect=options.connect_timeout),
            limits=httpx.Limits(max_connections=options.max_connections, max_keepalive_connections=2),
            follow_redirects=True,
            proxy=options.proxy,
            verify=options.verify,
            transport=transport,
        )

    async def close(self) -> None:
        await self.client.aclose()

    def remember(self, result: FetchResult | None) -> None:
        """Keep the response's ``ETag`` / ``Last-Modified`` for the next run's conditional request.

        Called by the source after it stored what the body held: a validator saved before
        that would turn a crash into a 304 and a lost page.
        """
        if result is None:
            return
        etag, modified = result.headers.get("etag"), result.headers.get("last-modified")
        if etag or modified:
            self._validators[result.url] = (etag, modified)

    def backoff_delay(self, attempt: int) -> float:
        base = min(self.options.backoff_max, self.options.backoff * (2**attempt))
        return base * (0.5 + self.rng.random() / 2)  # "equal jitter": never zero, never in lockstep

    async def get(
        self, url: str, params: Mapping[str, Any] | None = None, *, conditional: bool = False
    ) -> FetchResult | None:
        """GET with retries; None when a conditional request came back 304 Not Modified."""
        return await self._retrying(url, params, conditional=conditional, decode=False)

    async def get_json(
        self, url: str, params: Mapping[str, Any] | None = None, *, conditional: bool = False
    ) -> FetchResult | None:
        """Like :meth:`get`, with the body decoded into ``result.data``: a truncated or
        garbled body is retried like a 5xx (a proxy or the platform cut it short)."""
        return await self._retrying(url, params, conditional=conditional, decode=True)

    async def _retrying(
        self, url: str, params: Mapping[str, Any] | None, *, conditional: bool, decode: bool
    ) -> FetchResult | None:
        request = self.client.build_request("GET", url, params=params)
        key = str(request.url)
        if conditional and key in self._validators:
            etag, modified = self._validators[key]
            if etag:
                request.headers["If-None-Match"] = etag
            if modified:
                request.headers["If-Modified-Since"] = modified
        attempt = 0
        while True:
            try:
                result = await self._attempt(request, key, redact_url(request.url))
                if decode and result is not None:
                    result.data = result.json()
                return result
            except FetchError as exc:
                if not exc.retryable or attempt >= self.options.retries:
                    raise
                delay = self.backoff_delay(attempt)
                if exc.retry_after is not None:
                    if exc.retry_after > self.options.retry_after_max:
                        raise
                    delay = max(delay, exc.retry_after)
                self.on_retry(exc.kind, exc.detail)
                log.debug("retrying %s in %.2fs after %s", redact_url(request.url), delay, exc.kind)
                attempt += 1
                await self.sleep(delay)

    async def _attempt(self, request: httpx.Request, key: str, label: str) -> FetchResult | None:
        await self.limiter.wait(request.url.netloc.decode("ascii", "replace"), self.options.rate)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise FetchError("timeout", f"{label}: {type(exc).__name__}") from None
        except httpx.ConnectError as exc:
            raise FetchError("connect", f"{label}: {exc}"[:300]) from None
        except httpx.HTTPError as exc:
            raise FetchError("transport", f"{label}: {type(exc).__name__}: {exc}"[:300]) from None
        try:
            status = response.status_code
            if response.history and _is_login_page(response.url):
                # a redirect to the login page is how Weibo says "no more without an account"
                raise FetchError(
                    "blocked", f"{label}: redirected to a login page", status=status, blocked=True
                )
            if status == 304:
                return None
            if status in BLOCKED_STATUSES:
                raise FetchError("blocked", f"{label}: HTTP {status}", status=status, blocked=True)
            if status == 429:
                retry_after = retry_after_seconds(response.headers.get("retry-after"), self.clock.now())
                raise FetchError("http_429", f"{label}: HTTP 429", status=status, retry_after=retry_after)
            if status >= 500:
                raise FetchError("http_5xx", f"{label}: HTTP {status}", status=status)
            if status >= 400:
                raise FetchError("http_4xx", f"{label}: HTTP {status}", status=status)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.options.max_body:
                raise FetchError("too_large", f"{label}: {declared} bytes, limit {self.options.max_body}")
            chunks: list[bytes] = []
            size = 0
            try:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.options.max_body:
                        raise FetchError("too_large", f"{label}: over {self.options.max_body} bytes")
                    chunks.append(chunk)
            except httpx.TimeoutException:
                raise FetchError("timeout", f"{label}: body read timed out") from None
            except httpx.HTTPError as exc:
                # a connection cut mid-body is a truncated response: worth another try
                raise FetchError("transport", f"{label}: {type(exc).__name__}") from None
            return FetchResult(url=key, status=status, body=b"".join(chunks), headers=response.headers)
        finally:
            await response.aclose()


class RunGate:
    """Skips runs after failures: pauses double per failed run, longer when blocked.

    The scheduler keeps calling ``collect`` every interval; the gate decides whether this
    run may touch the network.
    """

    def __init__(self, options: HttpOptions, rng: random.Random | None = None) -> None:
        self.options = options
        self.rng = rng or random.Random()
        self.failures = 0
        self.not_before: datetime | None = None

    def ready(self, now: datetime) -> bool:
        return self.not_before is None or now >= self.not_before

    def succeeded(self) -> None:
        self.failures = 0
        self.not_before = None

    def failed(self, now: datetime, *, blocked: bool = False, retry_after: float | None = None) -> float:
        """Record a failed run; returns the pause in seconds before the next allowed run."""
        self.failures += 1
        base = self.options.blocked_backoff if blocked else self.options.fail_backoff
        pause = min(self.options.max_run_backoff, base * (2 ** (self.failures - 1)))
        pause *= 0.75 + self.rng.random() / 4
        if retry_after is not None:
            pause = max(pause, min(retry_after, self.options.max_run_backoff))
        self.not_before = now + timedelta(seconds=pause)
        return pause


class SeenSet:
    """What a stream of timestamped items has handed on already, kept in the cursor.

    * ``ids`` - the newest ``limit`` ids emitted, with their timestamps: no duplicates,
      whatever order the feed lists them in. Anything older than the newest id ever
      dropped (``floor``) counts as seen, so a long-lived feed never looks new again.
    * ``mark`` - the newest timestamp of the last *complete* pass. Paging goes on while
      a page holds anything newer than it, so a pass cut short by an error is finished
      by the next run instead of stopping at the first page it already handed on.
    """

    def __init__(self, saved: Mapping[str, Any] | None = None, limit: int = 2000, slack: float = 0.0) -> None:
        self.limit = limit
        self.slack = slack  # timestamps read to the minute ("5分钟前") may sit a little early
        saved = saved or {}
        raw_ids = saved.get("ids")
        self.ids: dict[str, float] = {}
        if isinstance(raw_ids, dict):
            self.ids = {str(k): float(v) for k, v in raw_ids.items() if isinstance(v, int | float)}
        floor, mark = saved.get("floor"), saved.get("mark")
        self.floor: float | None = float(floor) if isinstance(floor, int | float) else None
        self.mark: float | None = float(mark) if isinstance(mark, int | float) else None
        self._newest: float | None = None

    def is_new(self, key: str, ts: float | None) -> bool:
        """Not handed on before; also notes ``ts`` for the pass's newest timestamp."""
        if ts is not None and (self._newest is None or ts > self._newest):
            self._newest = ts
        if key in self.ids:
            return False
        # strictly older than what was dropped: a tie is re-emitted (a duplicate the store absorbs)
        return not (ts is not None and self.floor is not None and ts < self.floor)

    def beyond_mark(self, ts: float | None) -> bool:
        """Newer than the last complete pass reached: keep paging."""
        return self.mark is None or ts is None or ts > self.mark - self.slack

    def add(self, key: str, ts: float | None) -> None:
        self.ids[key] = ts if ts is not None else max(self.ids.values(), default=0.0)

    def complete(self) -> None:
        """The pass reached the mark (or the end of the list): move the mark up."""
        if self._newest is not None and (self.mark is None or self._newest > self.mark):
            self.mark = self._newest

    def to_json(self) -> dict[str, Any]:
        if len(self.ids) > self.limit:
            ordered = sorted(self.ids.items(), key=lambda kv: kv[1], reverse=True)
            kept, dropped = ordered[: self.limit], ordered[self.limit :]
            self.floor = max(self.floor or dropped[0][1], dropped[0][1])
            self.ids = dict(kept)
        out: dict[str, Any] = {"ids": self.ids}
        if self.floor is not None:
            out["floor"] = self.floor
        if self.mark is not None:
            out["mark"] = self.mark
        return out


def with_secrets(options: OptionsT, ctx: SourceContext) -> OptionsT:
    """Fill ``cookie`` (and ``token``, ``password``) from ``ctx.secrets`` when the config left them out."""
    updates: dict[str, Any] = {
        name: ctx.secrets[name]
        for name in ("cookie", "token", "password")
        if name in type(options).model_fields and getattr(options, name) is None and ctx.secrets.get(name)
    }
    return options.model_copy(update=updates) if updates else options


def count_error(health: SourceHealth, kind: str) -> None:
    """Count an error that did not fail the run (a retried 429, a long text left short)."""
    health.errors[kind] = health.errors.get(kind, 0) + 1
    health.metrics.fetch_errors.labels(health.source, kind).inc()


async def load_cursor(cursors: CursorStore, source: str) -> dict[str, Any]:
    """The source's saved cursor as a dict; an unreadable one starts afresh (and says so)."""
    raw = await cursors.get_cursor(source)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        log.warning("source %s: unreadable cursor ignored", source)
        return {}
    return value if isinstance(value, dict) else {}


async def save_cursor(cursors: CursorStore, source: str, cursor: Mapping[str, Any]) -> None:
    """Store the cursor as JSON; call only after ``sink.flush()``."""

    await cursors.set_cursor(source, json.dumps(cursor, ensure_ascii=False, sort_keys=True))


class PollingSource:
    """The run loop a feed-like source shares: gate, cursor, flush-then-save, health.

    A subclass sets ``options_model`` and implements :meth:`run`, which hands posts to
    the sink, records what it emitted in the cursor dict it was given, and raises
    :class:`FetchError` on trouble. The cursor is saved after ``sink.flush()`` even when
    the run failed part-way: it only ever names posts that were handed on, so saving it
    can skip nothing, and the next run need not hand them on again.
    """

    streaming = False
    options_model: type[HttpOptions] = HttpOptions

    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.name = ctx.name
        self.options = with_secrets(parse_options(self.options_model, ctx.config.options), ctx)
        headers = {**self.client_headers(), **self.options.headers}
        self.fetcher = HttpFetcher(
            self.options.model_copy(update={"headers": headers}),
            clock=ctx.clock,
            on_retry=lambda kind, detail: count_error(ctx.health, kind),
        )
        self.gate = RunGate(self.options)
        self._validated: list[FetchResult] = []

    async def close(self) -> None:
        await self.fetcher.close()

    def client_headers(self) -> dict[str, str]:
        """Headers this platform expects on every request (the config's ``headers`` win)."""
        return {}

    def keep_validators(self, result: FetchResult) -> None:
        """Remember this response's ETag once the run's posts are stored."""
        self._validated.append(result)

    async def run(self, cursor: dict[str, Any], sink: PostSink) -> int:  # pragma: no cover - abstract
        """Collect once, updating ``cursor`` in place; returns how many posts were handed on."""
        raise NotImplementedError

    async def collect(self, sink: PostSink) -> None:
        now = self.ctx.clock.now()
        if not self.gate.ready(now):
            return
        cursor = await load_cursor(self.ctx.cursors, self.name)
        before = json.dumps(cursor, sort_keys=True)
        self._validated = []
        error: FetchError | None = None
        emitted = 0
        try:
            emitted = await self.run(cursor, sink)
        except FetchError as exc:
            error = exc
        await sink.flush()
        if json.dumps(cursor, sort_keys=True) != before:
            await save_cursor(self.ctx.cursors, self.name, cursor)
        now = self.ctx.clock.now()
        if error is None:
            for result in self._validated:
                self.fetcher.remember(result)
            self.gate.succeeded()
            self.ctx.health.success(now, emitted)
            return
        pause = self.gate.failed(now, blocked=error.blocked, retry_after=error.retry_after)
        self.ctx.health.failure(now, error.kind, error.detail, blocked=error.blocked)
        log.warning("source %s: %s; next try in %.0fs", self.name, error, pause)
