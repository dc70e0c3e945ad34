"""WeChat official-account articles, from the ``cgi-bin/appmsg?action=list_ex`` article list.

Config (``[[source]] type = "wechat"``)::

    base_url = "https://mp.weixin.qq.com"   # or a mirror, a crawler's cache, the simulator
    fakeids = ["MzA5NjYwOTg0Mg=="]          # official accounts to follow
    query = "艾克美"                         # optional: only articles matching this
    token = "env:WECHAT_TOKEN"              # the session token and cookie the list needs
    cookie = "env:WECHAT_COOKIE"
    count = 5                               # articles per page (the API allows up to 20)

One post per article: the text is the title and the article body (HTML cleaned), or the
digest when the list carries no body. ``base_resp.ret`` 200003/200040 (session
invalid) mark the source blocked; 200013 (frequency control) is a rate limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from sentinel.clock import UTC8
from sentinel.sources.base import PostSink
from sentinel.sources.html import html_to_text
from sentinel.sources.http import FetchError, HttpOptions, PollingSource, SeenSet, count_error

__all__ = ["WechatOptions", "WechatSource", "article_to_post"]

LIST_PATH = "/cgi-bin/appmsg"
BLOCKED_RETS = frozenset({200003, 200040, -6})
RATE_LIMITED_RETS = frozenset({200013, 45009})


class WechatOptions(HttpOptions):
    """``[[source]] type = "wechat"`` options."""

    base_url: str = "https://mp.weixin.qq.com"
    fakeids: list[str] = Field(default_factory=lambda: [""])
    query: str | None = None
    token: str | None = Field(None, repr=False)
    count: int = Field(5, ge=1, le=20)
    platform: str = "wechat"
    rate: float = Field(0.2, ge=0)


def article_to_post(article: Any, *, platform: str = "wechat", account: str | None = None) -> dict[str, Any]:
    """One ``app_msg_list`` entry as a canonical post dict; ValueError/KeyError/TypeError when unusable."""
    if not isinstance(article, dict):
        raise TypeError("article is not an object")
    aid = article.get("aid") or (
        f"{article['appmsgid']}_{article.get('itemidx', 1)}"
        if article.get("appmsgid")
        else article.get("link")
    )
    if not isinstance(aid, str | int) or isinstance(aid, bool) or not str(aid).strip():
        raise KeyError("aid")
    created = article.get("create_time") or article.get("update_time")
    if isinstance(created, str) and created.isdigit():
        created = int(created)
    if isinstance(created, bool) or not isinstance(created, int | float) or not 0 < created < 1e11:
        raise ValueError(f"create_time {created!r}")
    raw_title = article.get("title")
    title = raw_title if isinstance(raw_title, str) else ""
    content = article.get("content")
    body = html_to_text(content) if isinstance(content, str) and content.strip() else ""
    if not body and isinstance(article.get("digest"), str):
        body = html_to_text(article["digest"])
    title = html_to_text(title)
    text = body if body.startswith(title) else "\n".join(x for x in (title, body) if x)
    author = article.get("author_name")

    def count(key: str) -> int:
        value = article.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    post: dict[str, Any] = {
        "platform": platform,
        "id": str(aid).strip(),
        "text": text,
        "created_at": datetime.fromtimestamp(created, UTC8).isoformat(),
        "author": {"id": account or None, "name": author if isinstance(author, str) and author else None},
        "likes": count("like_num"),
        "url": article["link"] if isinstance(article.get("link"), str) else None,
    }
    if "read_num" in article:
        post["reads"] = count("read_num")
    return post


class WechatSource(PollingSource):
    """Polls official-account article lists; see the module docstring for config."""

    options_model = WechatOptions
    options: WechatOptions

    async def run(self, cursor: dict[str, Any], sink: PostSink) -> int:
        emitted = 0
        for fakeid in self.options.fakeids:
            stream = fakeid or "*"
            seen = SeenSet(cursor.get(stream))
            try:
                emitted += await self._account(fakeid, seen, sink)
            finally:
                cursor[stream] = seen.to_json()
        return emitted

    async def _account(self, fakeid: str, seen: SeenSet, sink: PostSink) -> int:
        emitted = 0
        count = self.options.count
        for page in range(self.options.max_pages):
            params: dict[str, Any] = {
                "action": "list_ex",
                "begin": page * count,
                "count": count,
                "type": 9,
                "f": "json",
                "ajax": 1,
                "lang": "zh_CN",
            }
            if fakeid:
                params["fakeid"] = fakeid
            if self.options.query:
                params["query"] = self.options.query
            if self.options.token:
                params["token"] = self.options.token
            result = await self.fetcher.get_json(LIST_PATH, params)
            payload = result.data if result is not None else None
            if not isinstance(payload, dict):
                raise FetchError("bad_shape", f"{LIST_PATH}: not a JSON object")
            base = payload.get("base_resp")
            ret = base.get("ret") if isinstance(base, dict) else None
            if ret in BLOCKED_RETS:
                raise FetchError(
                    "blocked", f"{LIST_PATH}: base_resp.ret={ret} (session invalid)", blocked=True
                )
            if ret in RATE_LIMITED_RETS:
                raise FetchError("rate_limited", f"{LIST_PATH}: base_resp.ret={ret} (frequency control)")
            if ret not in (0, None):
                raise FetchError("api_error", f"{LIST_PATH}: base_resp.ret={ret}")
            articles = payload.get("app_msg_list")
            if not isinstance(articles, list) or not articles:
                break
            beyond = False
            for article in articles:
                try:
                    post = article_to_post(article, platform=self.options.platform, account=fakeid or None)
                except (KeyError, TypeError, ValueError) as exc:
                    sink.reject("bad_shape", f"article: {type(exc).__name__}: {exc}"[:200])
                    continue
                ts = datetime.fromisoformat(post["created_at"]).timestamp()
                beyond = beyond or seen.beyond_mark(ts)
                if not seen.is_new(post["id"], ts):
                    continue
                accepted = await sink.put(post)
                seen.add(post["id"], ts)  # after put: an interrupted put must not mark the post seen
                emitted += accepted
            total = payload.get("app_msg_cnt")
            if not beyond or (isinstance(total, int) and (page + 1) * count >= total):
                break
        else:
            if seen.mark is not None:
                count_error(self.ctx.health, "page_cap")  # older articles of this gap are skipped
        seen.complete()
        return emitted
