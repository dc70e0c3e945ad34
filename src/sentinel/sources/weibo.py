"""Weibo through the m.weibo.cn JSON API: real-time keyword search and user timelines.

Config (``[[source]] type = "weibo"``)::

    base_url = "https://m.weibo.cn"     # or a mirror, a proxy, or `sentinel simulate serve`
    keywords = ["艾克美"]                # containerid=100103type=61&q=<kw>  (real-time search)
    users = ["1234567890"]              # containerid=107603<uid>            (timeline)
    cookie = "env:WEIBO_COOKIE"         # optional; sent, never logged
    max_pages = 5                       # per stream per run
    rate = 0.5                          # requests per second to the host

Each stream (``k:<keyword>``, ``u:<uid>``) pages back through ``data.cards`` (``page=N``,
or ``since_id`` where the API hands one out) until a page holds nothing newer than the
last complete pass. Its cursor is a :class:`SeenSet` of the posts handed on, saved after
the sink flushed: ids are not trusted to be in time order (mids from different servers
interleave), so a late, slightly older id is still new, and a pass cut short by an error
is finished by the next run. No gap, no duplicate. Reposted originals are emitted before
their reposts and again whenever their counters moved. HTTP 401/403/418/432, ``ok: -100``
("login required") and a redirect to a login page mark the source blocked; the run gate
then sits out runs.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from sentinel.sources.base import PostSink, SourceContext
from sentinel.sources.html import html_to_text
from sentinel.sources.http import (
    FetchError,
    HttpOptions,
    PollingSource,
    RecentKeys,
    SeenSet,
    count_error,
)
from sentinel.sources.weibo_parse import WeiboItem, parse_page

__all__ = ["WeiboOptions", "WeiboSource"]

log = logging.getLogger(__name__)
INDEX_PATH = "/api/container/getIndex"
EXTEND_PATH = "/statuses/extend"
# "5分钟前" is read to the minute: allow that much when deciding whether a page is older
MARK_SLACK = 120.0


class WeiboOptions(HttpOptions):
    """``[[source]] type = "weibo"`` options: what to watch and how hard to ask."""

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


def _next_page(payload: dict[str, Any], page_no: int) -> dict[str, str] | None:
    """Where the next page is: ``since_id`` (newer timeline API) or ``page + 1``; None after the last.

    ``cardlistInfo.page`` names the next page, and null there means this was the last.
    """
    data = payload.get("data")
    info = data.get("cardlistInfo") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        return {"page": str(page_no + 1)}
    if "since_id" in info:  # the newer timeline API: an empty since_id ends the list
        since_id = info["since_id"]
        if isinstance(since_id, int | str) and not isinstance(since_id, bool) and str(since_id).strip():
            return {"since_id": str(since_id)}
        return None
    if "page" in info and info["page"] is None:
        return None
    return {"page": str(page_no + 1)}


class WeiboSource(PollingSource):
    """Polls m.weibo.cn-style search and timelines; see the module docstring for config.

    >>> # WeiboSource(ctx) with ctx.config.options = {"keywords": ["艾克美"]}
    """

    options_model = WeiboOptions
    options: WeiboOptions

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        # what this process handed on, with counters: a reposted original is emitted again only
        # when its counters moved, and a post already sent as an original is not sent twice
        self.recent = RecentKeys(50_000)  # this source's ids with their counters
        self.streams = [f"k:{k}" for k in self.options.keywords] + [f"u:{u}" for u in self.options.users]
        self._long_text_budget = 0

    def client_headers(self) -> dict[str, str]:
        return {
            "Referer": self.options.base_url.rstrip("/") + "/",
            "MWeibo-Pwa": "1",
            "X-Requested-With": "XMLHttpRequest",
        }

    async def run(self, cursor: dict[str, Any], sink: PostSink) -> int:
        """Every stream once; a failed stream does not stop the others, a block stops all."""
        self._long_text_budget = self.options.long_text_max
        emitted = 0
        error: FetchError | None = None
        for stream in self.streams:
            saved = cursor.get(stream)
            seen = SeenSet(saved if isinstance(saved, dict) else None, slack=MARK_SLACK)
            try:
                emitted += await self._collect_stream(stream, seen, sink)
            except FetchError as exc:
                if exc.blocked:
                    raise  # the platform refuses us: asking for the other streams makes it worse
                error = exc
            finally:
                cursor[stream] = seen.to_json()
        if error is not None:
            raise error
        return emitted

    async def _collect_stream(self, stream: str, seen: SeenSet, sink: PostSink) -> int:
        """Page back until a page holds nothing newer than the last complete pass."""
        emitted = 0
        now = self.ctx.clock.now()
        where: dict[str, str] | None = {"page": "1"}
        for page_no in range(1, self.options.max_pages + 1):
            result = await self.fetcher.get_json(INDEX_PATH, {**_stream_params(stream), **(where or {})})
            payload = result.data if result is not None else None
            if not isinstance(payload, dict):
                raise FetchError("bad_json", f"{INDEX_PATH}: not a JSON object")
            ok = payload.get("ok")
            if ok == -100:
                raise FetchError("blocked", f"{INDEX_PATH}: ok=-100 (login required)", blocked=True)
            page = parse_page(payload, now)
            for reason, detail in page.rejects:
                sink.reject(reason, detail)
            if ok != 1 and not page.items:
                break  # ok=0 "这里还没有内容": past the last page
            beyond = False
            for item in page.items:
                ts = datetime.fromisoformat(item.post["created_at"]).timestamp()
                if not item.pinned:
                    beyond = beyond or seen.beyond_mark(ts)
                emitted += await self._emit_original(item, sink)
                post = item.post
                fingerprint = (post["reposts"], post["comments"], post["likes"])
                if not seen.is_new(post["id"], ts):
                    if post["id"] in self.recent and self.recent.fresh(post["id"], fingerprint):
                        # handed on earlier with other counters: the store updates them (text is not touched)
                        emitted += await sink.put(post)
                        self.recent.remember(post["id"], fingerprint)
                    continue
                if self.recent.fresh(post["id"], fingerprint):  # not already handed on as an original
                    if post.get("truncated"):
                        post = await self._full_text(post)
                    emitted += await sink.put(post)
                    self.recent.remember(post["id"], fingerprint)
                seen.add(post["id"], ts)  # after put: an interrupted put must not mark the post seen
            where = _next_page(payload, page_no)
            if where is None or (not page.items and not page.rejects):
                break
            if seen.mark is not None and page.items and not beyond:
                break
        else:
            if seen.mark is not None:
                # the page cap ran out before the last pass was met: older posts of this gap are skipped
                count_error(self.ctx.health, "page_cap")
        seen.complete()
        return emitted

    async def _emit_original(self, item: WeiboItem, sink: PostSink) -> int:
        original = item.original
        if original is None:
            return 0
        fingerprint = (original["reposts"], original["comments"], original["likes"])
        if not self.recent.fresh(original["id"], fingerprint):
            return 0
        if original.get("truncated") and original["id"] not in self.recent:
            original = await self._full_text(original)
        accepted = await sink.put(original)
        self.recent.remember(original["id"], fingerprint)
        return int(accepted)

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
