"""Weibo through the m.weibo.cn JSON API: real-time keyword search and user timelines.

Config (``[[source]] type = "weibo"``)::

    base_url = "https://m.weibo.cn"     # or a mirror, a proxy, or `sentinel simulate serve`
    keywords = ["艾克美"]                # containerid=100103type=61&q=<kw>  (real-time search)
    users = ["1234567890"]              # containerid=107603<uid>            (timeline)
    cookie = "env:WEIBO_COOKIE"         # optional; sent, never logged
    max_pages = 5                       # per stream per run
    rate = 0.5                          # requests per second to the host

Each stream pages back through ``data.cards`` until it meets the stored cursor (the
highest post id already collected; Weibo ids grow with time), then saves the new
high-water mark only after the sink has flushed. A run that fails part-way keeps the old
cursor, so the next run fetches the same pages again and :class:`RecentKeys` drops what
was already handed on: no gap, no duplicate. HTTP 401/403/418/432 and ``ok: -100``
("login required") mark the source blocked; the run gate then sits out runs.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field, field_validator, model_validator

from sentinel.sources.base import PostSink, SourceContext
from sentinel.sources.html import html_to_text
from sentinel.sources.http import (
    FetchError,
    HttpFetcher,
    HttpOptions,
    RecentKeys,
    RunGate,
    count_error,
    load_cursor,
    parse_options,
    save_cursor,
    with_secrets,
)
from sentinel.sources.weibo_parse import WeiboItem, parse_page

__all__ = ["WeiboOptions", "WeiboSource"]

log = logging.getLogger(__name__)
INDEX_PATH = "/api/container/getIndex"
EXTEND_PATH = "/statuses/extend"


class WeiboOptions(HttpOptions):
    base_url: str = "https://m.weibo.cn"
    keywords: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    rate: float = Field(0.5, ge=0)
    long_text: bool = True
    long_text_max: int = 20  # full-text fetches per run: each is one more request

    @field_validator("users")
    @classmethod
    def _numeric_users(cls, users: list[str]) -> list[str]:
        for uid in users:
            if not str(uid).strip().isdigit():
                raise ValueError(f"user ids are numeric, got {uid!r}")
        return [str(u).strip() for u in users]

    @field_validator("keywords")
    @classmethod
    def _non_empty(cls, keywords: list[str]) -> list[str]:
        if any(not k.strip() for k in keywords):
            raise ValueError("keywords must not be empty strings")
        return keywords

    @model_validator(mode="after")
    def _something_to_watch(self) -> WeiboOptions:
        if not self.keywords and not self.users:
            raise ValueError("give keywords and/or users to watch")
        return self


def _stream_params(stream: str) -> dict[str, str]:
    kind, _, value = stream.partition(":")
    if kind == "k":
        return {"containerid": f"100103type=61&q={value}&t=", "page_type": "searchall"}
    return {"containerid": f"107603{value}"}


def _last_page(payload: dict[str, Any]) -> bool:
    """``cardlistInfo.page`` names the next page; null there means this was the last."""
    data = payload.get("data")
    info = data.get("cardlistInfo") if isinstance(data, dict) else None
    return isinstance(info, dict) and "page" in info and info["page"] is None


class WeiboSource:
    """Polls m.weibo.cn-style search and timelines; see the module docstring for config.

    >>> # WeiboSource(ctx) with ctx.config.options = {"keywords": ["艾克美"]}
    """

    streaming = False

    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.name = ctx.name
        self.options = with_secrets(parse_options(WeiboOptions, ctx.config.options), ctx)
        headers = {
            "Referer": self.options.base_url.rstrip("/") + "/",
            "MWeibo-Pwa": "1",
            "X-Requested-With": "XMLHttpRequest",
            **self.options.headers,
        }
        self.fetcher = HttpFetcher(
            self.options.model_copy(update={"headers": headers}),
            clock=ctx.clock,
            on_retry=lambda kind, detail: count_error(ctx.health, kind),
        )
        self.gate = RunGate(self.options)
        self.recent = RecentKeys()
        self.streams = [f"k:{k}" for k in self.options.keywords] + [f"u:{u}" for u in self.options.users]
        self._long_text_budget = 0

    async def close(self) -> None:
        await self.fetcher.close()

    async def collect(self, sink: PostSink) -> None:
        """One run over every stream; never raises for HTTP trouble or bad data."""
        now = self.ctx.clock.now()
        if not self.gate.ready(now):
            return
        cursor = await load_cursor(self.ctx.cursors, self.name)
        done: dict[str, str] = {}
        emitted = 0
        error: FetchError | None = None
        self._long_text_budget = self.options.long_text_max
        for stream in self.streams:
            try:
                top, count = await self._collect_stream(stream, cursor.get(stream), sink)
            except FetchError as exc:
                error = exc
                if exc.blocked:
                    break  # the platform refuses us: asking for the other streams makes it worse
                continue
            emitted += count
            if top is not None:
                done[stream] = top
        await sink.flush()
        if done:
            await save_cursor(self.ctx.cursors, self.name, {**cursor, **done})
        now = self.ctx.clock.now()
        if error is None:
            self.gate.succeeded()
            self.ctx.health.success(now, emitted)
            return
        pause = self.gate.failed(now, blocked=error.blocked, retry_after=error.retry_after)
        self.ctx.health.failure(now, error.kind, error.detail, blocked=error.blocked)
        log.warning("source %s: %s; next try in %.0fs", self.name, error, pause)

    async def _collect_stream(self, stream: str, since: Any, sink: PostSink) -> tuple[str | None, int]:
        """Page back to ``since``; returns the new high-water id and the posts handed on."""
        floor = int(since) if isinstance(since, str) and since.isdigit() else None
        top = floor
        emitted = 0
        now = self.ctx.clock.now()
        for page_no in range(1, self.options.max_pages + 1):
            params = {**_stream_params(stream), "page": str(page_no)}
            result = await self.fetcher.get_json(INDEX_PATH, params)
            if result is None:
                break
            payload = result.data
            if not isinstance(payload, dict):
                raise FetchError("bad_json", f"{result.url}: not a JSON object")
            ok = payload.get("ok")
            if ok == -100:
                raise FetchError("blocked", f"{result.url}: ok=-100 (login required)", blocked=True)
            page = parse_page(payload, now)
            for reason, detail in page.rejects:
                sink.reject(reason, detail)
            if ok != 1 and not page.items:
                break  # ok=0 "这里还没有内容": past the last page
            any_new = False
            for item in page.items:
                pid = int(item.post["id"])
                if floor is not None and pid <= floor:
                    continue
                any_new = any_new or not item.pinned
                top = pid if top is None else max(top, pid)
                emitted += await self._emit(item, sink, now)
            if not page.items and not page.rejects:
                break
            if floor is not None and page.items and not any_new:
                break
            if _last_page(payload):
                break
        else:
            if floor is not None:
                # the page cap ran out before the cursor: older posts of this gap are skipped
                count_error(self.ctx.health, "page_cap")
        return (None if top is None else str(top)), emitted

    async def _emit(self, item: WeiboItem, sink: PostSink, now: Any) -> int:
        emitted = 0
        for post in (item.original, item.post):
            if post is None:
                continue
            key = post["id"]
            fingerprint = (post["reposts"], post["comments"], post["likes"])
            if not self.recent.fresh(key, fingerprint):
                continue
            if post.get("truncated") and post is item.post:
                post = await self._full_text(post)
            emitted += await sink.put(post)
            self.recent.remember(key, fingerprint)
        return emitted

    async def _full_text(self, post: dict[str, Any]) -> dict[str, Any]:
        """Swap in the full text of a long post; on trouble keep the first 140 characters."""
        if not self.options.long_text or self._long_text_budget <= 0:
            return post
        self._long_text_budget -= 1
        try:
            result = await self.fetcher.get_json(EXTEND_PATH, {"id": post["id"]})
            payload = result.data if result is not None else None
        except FetchError as exc:
            if exc.blocked:
                raise
            count_error(self.ctx.health, exc.kind)
            return post
        data = payload.get("data") if isinstance(payload, dict) else None
        content = data.get("longTextContent") if isinstance(data, dict) else None
        if not isinstance(content, str):
            count_error(self.ctx.health, "bad_shape")
            return post
        out = dict(post, text=html_to_text(content))
        out.pop("truncated", None)
        return out
