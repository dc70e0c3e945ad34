"""``sentinel simulate serve``: a local stand-in for Weibo, WeChat and feed hosts, with faults.

A Starlette app on uvicorn, on the caller's event loop, usable in-process::

    async with SimulatorServer(Feed(posts)) as srv:
        srv.faults.add_spec("search=429:1@1")
        ... WeiboSource(base_url=srv.url) ...

Endpoints (``?platform=`` filters any list by canonical platform):

* ``GET /api/container/getIndex?containerid=100103type=61&q=KW&page=N`` - real-time search
* ``GET /api/container/getIndex?containerid=107603UID&page=N`` - a user's timeline
* ``GET /statuses/extend?id=MID`` - a long post's full text
* ``GET /cgi-bin/appmsg?action=list_ex&begin=B&count=C[&query=KW]`` - WeChat article list
* ``GET /feed/rss``, ``/feed/atom``, ``/feed/json`` (``?q=``, ``?uid=``) - RSS 2.0, Atom, JSON Feed,
  with ``ETag`` / ``Last-Modified`` and 304s
* ``GET /api/posts?page=N&size=M`` - a vendor-style JSON API for the ``jsonfeed`` source
* ``GET|POST|DELETE /_faults`` - list, add (``{"spec": "search=429:2@1"}``), clear faults
* ``POST /_posts`` - add canonical posts (a JSON list or JSON lines); ``GET /healthz``
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sentinel.clock import Clock, SystemClock
from sentinel.post import PostError
from sentinel.simulate.faults import STATUS_FAULTS, Fault, FaultPlan, corrupt_body
from sentinel.simulate.feeds import (
    Feed,
    rss_date,
    to_json_feed_item,
    to_mblog,
    to_vendor_record,
    to_wechat_article,
    to_weibo_html,
)
from sentinel.web.asgi import AsgiService

__all__ = ["SimulatorServer", "replay", "serve_forever"]

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 8 * 1024 * 1024
_JUNK_HEAD = (
    '<div class="weibo-text" style="color:#333"><script type="text/javascript">var ad = "<b>买买买</b>";'
    "</script><style>.x{display:none}</style><!-- tracking: 12345 --><span></span>"
)
_JUNK_TAIL = (
    '<i class="m-font m-font-arrow"></i><noscript>enable js</noscript><iframe src="/ad"></iframe></div>'
)
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _link(record: Mapping[str, Any], base: str) -> str:
    return str(record.get("url") or f"{base}/p/{record['id']}")


def _json(obj: Any, status: int = 200) -> _Response:
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return _Response(status, body, {"Content-Type": "application/json; charset=utf-8"})


class SimulatorServer:
    """The simulator as an async context manager; ``url`` is its base URL once started.

    ``style="mixed"`` writes Weibo times relatively ("5分钟前") and big counters as "1.2万";
    ``requests`` counts requests per endpoint; ``last_headers`` keeps each endpoint's last
    request headers (tests check cookies and conditional requests with them).
    """

    def __init__(
        self,
        feed: Feed | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        clock: Clock | None = None,
        style: str = "absolute",
        page_size: int = 10,
        feed_size: int = 50,
        seed: int = 0,
        live: bool = False,
    ) -> None:
        self.feed = feed if feed is not None else Feed()
        self.host = host
        self.port = port
        self.faults = faults or FaultPlan()
        self.clock = clock or SystemClock()
        self.style = style
        self.page_size = page_size
        self.feed_size = feed_size
        self.rng = random.Random(seed)
        self.live = live  # serve only posts whose created_at has passed: a scenario played in real time
        self.requests: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self._service: AsgiService | None = None
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._service = AsgiService(Starlette(routes=[Route("/{path:path}", self._asgi, methods=_METHODS)]),
                                    self.host, self.port, grace=2.0, max_connections=None)  # fmt: skip
        await self._service.start()
        self.port = self._service.port

    async def stop(self) -> None:
        self._stopping.set()  # a request held by a "timeout" fault ends now
        if self._service is not None:
            await self._service.stop()
            self._service = None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _asgi(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            return Response(status_code=413)
        target = request.url.path
        if query := request.scope.get("query_string", b"").decode("latin-1"):
            target += "?" + query
        headers = {k.lower(): v for k, v in request.headers.items()}
        out = await self._respond(request.method, target, headers, body)
        return Response(out.body, out.status, out.headers)

    def _select(self, **filters: Any) -> list[dict[str, Any]]:
        until = self.clock.now().timestamp() if self.live else None
        return self.feed.select(until=until, **filters)

    # -- routing -----------------------------------------------------------------------------

    async def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Response:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path.rstrip("/") or "/"
        if path == "/_faults":
            return self._control_faults(method, body)
        if path == "/_posts":
            return self._control_posts(method, body)
        if path == "/healthz":
            return _json({"ok": True, "posts": len(self.feed)})
        if method != "GET":
            return _Response(405)
        endpoint = self._endpoint(path, query)
        if endpoint is None:
            return _json({"ok": 0, "msg": "not found"}, 404)
        self.requests[endpoint] += 1
        self.last_headers[endpoint] = dict(headers)
        faults = self.faults.take(endpoint)
        kinds = {f.kind for f in faults}
        for fault in faults:
            if fault.kind == "timeout":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), fault.arg if fault.arg is not None else 30.0
                    )
        for fault in faults:
            if fault.kind in STATUS_FAULTS:
                return self._status_fault(fault)
        if "block_ok" in kinds:
            if endpoint == "wechat":
                return _json({"base_resp": {"ret": 200003, "err_msg": "invalid session"}})
            return _json({"ok": -100, "url": "https://passport.weibo.cn/signin/welcome?entry=mweibo"})
        response = self._route(endpoint, query, headers, kinds)
        if response.status == 200:
            pad = next((f.arg for f in faults if f.kind == "huge"), None)
            if "huge" in kinds:
                response.body = self._pad(response.body, int(pad or 4 * 1024 * 1024), endpoint)
            json_body = response.headers.get("Content-Type", "").startswith("application/json")
            response.body = corrupt_body(response.body, kinds, json_body=json_body)
            response.headers["Content-Length"] = str(len(response.body))
        return response

    @staticmethod
    def _endpoint(path: str, query: Mapping[str, str]) -> str | None:
        if path == "/api/container/getIndex":
            containerid = query.get("containerid", "")
            if containerid.startswith("100103"):
                return "search"
            if containerid.startswith("107603"):
                return "timeline"
            return None
        return {
            "/statuses/extend": "extend",
            "/cgi-bin/appmsg": "wechat",
            "/feed/rss": "rss",
            "/feed/atom": "atom",
            "/feed/json": "jsonfeed",
            "/api/posts": "posts",
        }.get(path)

    @staticmethod
    def _status_fault(fault: Fault) -> _Response:
        status = STATUS_FAULTS[fault.kind]
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if status == 429:
            headers["Retry-After"] = str(int(fault.arg if fault.arg is not None else 1))
        return _Response(status, f"<html><body>{status}</body></html>".encode(), headers)

    @staticmethod
    def _pad(body: bytes, size: int, endpoint: str) -> bytes:
        if endpoint in ("rss", "atom"):
            return body.replace(b"?>", b"?><!--" + b"x" * size + b"-->", 1)
        if body.startswith(b"{"):
            return b'{"_pad": "' + b"x" * size + b'", ' + body[1:]
        return body

    def _control_faults(self, method: str, body: bytes) -> _Response:
        try:
            if method == "POST":
                self.faults.add_json(json.loads(body or b"null"))
            elif method == "DELETE":
                self.faults.clear()
            elif method != "GET":
                return _Response(405)
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, 400)
        return _Response(200, self.faults.to_json().encode(), {"Content-Type": "application/json"})

    def _control_posts(self, method: str, body: bytes) -> _Response:
        if method != "POST":
            return _Response(405)
        try:
            text = body.decode("utf-8").strip()
            records = (
                json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines() if x]
            )
            for record in records:
                self.feed.add(record)
        except (ValueError, PostError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"ok": True, "posts": len(self.feed)})

    def _items(self, records: list[dict[str, Any]], kinds: set[str]) -> list[dict[str, Any]]:
        if "shuffle" in kinds:
            records = list(records)
            self.rng.shuffle(records)
        if "duplicate" in kinds:
            records = [r for r in records for _ in (0, 1)] + records[:3]
        return records

    def _text_html(self, record: Mapping[str, Any], kinds: set[str]) -> str | None:
        if "html_junk" not in kinds:
            return None
        return _JUNK_HEAD + to_weibo_html(record["text"]) + _JUNK_TAIL

    def _route(
        self, endpoint: str, query: Mapping[str, str], headers: Mapping[str, str], kinds: set[str]
    ) -> _Response:
        platform = query.get("platform") or None
        if endpoint in ("search", "timeline"):
            return self._weibo_cards(endpoint, query, kinds, platform)
        if endpoint == "extend":
            record = self.feed.by_mid(query.get("id", ""))
            if record is None:
                return _json({"ok": 0, "msg": "微博不存在或暂无查看权限!"})
            html = self._text_html(record, kinds) or to_weibo_html(record["text"])
            return _json(
                {
                    "ok": 1,
                    "data": {
                        "ok": 1,
                        "longTextContent": html,
                        "reposts_count": record.get("reposts", 0),
                        "comments_count": record.get("comments", 0),
                        "attitudes_count": record.get("likes", 0),
                    },
                }
            )
        if endpoint == "wechat":
            return self._wechat(query, kinds, platform)
        if endpoint == "posts":
            return self._vendor(query, kinds, platform)
        return self._feed(endpoint, query, headers, kinds, platform)

    def _page(self, query: Mapping[str, str], key: str = "page") -> int:
        value = query.get(key, "1")
        return max(1, int(value)) if value.isdigit() else 1

    def _weibo_cards(
        self, endpoint: str, query: Mapping[str, str], kinds: set[str], platform: str | None
    ) -> _Response:
        containerid = query.get("containerid", "")
        if endpoint == "search":
            params = parse_qs(containerid[len("100103") :])
            keyword = (params.get("q") or [""])[0]
            records = self._select(query=keyword or None, platform=platform)
        else:
            records = self._select(author=containerid[len("107603") :], platform=platform)
        page = self._page(query)
        begin = (page - 1) * self.page_size
        since_id = query.get("since_id")
        if endpoint == "timeline" and since_id:
            # the newer timeline API pages by "since_id": the last post of the previous page
            at = next((i for i, r in enumerate(records) if str(r["_mid"]) == since_id), None)
            begin, page = (len(records) if at is None else at + 1), 2
        chunk = records[begin : begin + self.page_size]
        if not chunk:
            return _json({"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}})
        now = self.clock.now()
        cards: list[dict[str, Any]] = []
        if page == 1 and endpoint == "search":
            cards.append({"card_type": 4, "desc": "实时微博", "show_type": 1})  # a header card to skip
        group: list[dict[str, Any]] = []
        for i, record in enumerate(self._items(chunk, kinds)):
            card = {
                "card_type": 9,
                "itemid": f"seqid:{record['_mid']}",
                "scheme": f"https://m.weibo.cn/status/{record['_mid']}",
                "mblog": to_mblog(
                    record,
                    now,
                    feed=self.feed,
                    style=self.style,
                    text_html=self._html_for_weibo(record, kinds),
                ),
            }
            # some results come grouped in card_type 11, as the real search does
            if i % 4 == 3:
                group.append(card)
                cards.append({"card_type": 11, "card_group": group, "show_type": 0})
                group = []
            else:
                cards.append(card)
        more = begin + len(chunk) < len(records)
        info: dict[str, Any] = {"containerid": containerid, "v_p": 42, "total": len(records), "show_style": 1}
        if endpoint == "timeline":
            info["since_id"] = chunk[-1]["_mid"] if more else ""
        else:
            info["page"] = page + 1 if more else None
        return _json({"ok": 1, "data": {"cardlistInfo": info, "cards": cards, "scheme": ""}})

    def _html_for_weibo(self, record: Mapping[str, Any], kinds: set[str]) -> str | None:
        junk = self._text_html(record, kinds)
        if junk is None:
            return None
        return junk if len(record["text"]) <= 140 else None  # long posts: the junk is in the full text

    def _wechat(self, query: Mapping[str, str], kinds: set[str], platform: str | None) -> _Response:
        records = self._select(query=query.get("query") or None, platform=platform)
        begin = int(query["begin"]) if query.get("begin", "").isdigit() else 0
        count = min(int(query["count"]) if query.get("count", "").isdigit() else 5, 20)
        chunk = self._items(records[begin : begin + count], kinds)
        return _json(
            {
                "base_resp": {"ret": 0, "err_msg": "ok"},
                "app_msg_cnt": len(records),
                "app_msg_list": [to_wechat_article(r, self._text_html(r, kinds)) for r in chunk],
            }
        )

    def _vendor(self, query: Mapping[str, str], kinds: set[str], platform: str | None) -> _Response:
        records = self._select(query=query.get("q") or None, platform=platform)
        page = self._page(query)
        size = int(query["size"]) if query.get("size", "").isdigit() else self.page_size
        chunk = self._items(records[(page - 1) * size : page * size], kinds)
        items = []
        for record in chunk:
            item = to_vendor_record(record)
            if (junk := self._text_html(record, kinds)) is not None:
                item["content"] = junk
            items.append(item)
        return _json({"code": 0, "data": {"list": items, "has_more": page * size < len(records)}})

    def _feed(
        self,
        endpoint: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        kinds: set[str],
        platform: str | None,
    ) -> _Response:
        records = self._select(
            query=query.get("q") or None, author=query.get("uid") or None, platform=platform
        )[: self.feed_size]
        records = self._items(records, kinds)
        base = self.url
        if endpoint == "jsonfeed":
            items = [to_json_feed_item(r, base) for r in records]
            for item, record in zip(items, records, strict=True):
                if (junk := self._text_html(record, kinds)) is not None:
                    item["content_html"] = junk
            body = json.dumps(
                {
                    "version": "https://jsonfeed.org/version/1.1",
                    "title": "sentinel simulator",
                    "home_page_url": base,
                    "items": items,
                },
                ensure_ascii=False,
            ).encode()
            content_type = "application/feed+json; charset=utf-8"
        elif endpoint == "atom":
            body = self._atom(records, base, kinds).encode()
            content_type = "application/atom+xml; charset=utf-8"
        else:
            body = self._rss(records, base, kinds).encode()
            content_type = "application/rss+xml; charset=utf-8"
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        newest = max((datetime.fromisoformat(r["created_at"]) for r in records), default=None)
        out = {"Content-Type": content_type, "ETag": etag}
        if newest is not None:
            out["Last-Modified"] = format_datetime(newest.astimezone().replace(microsecond=0), usegmt=False)
        if headers.get("if-none-match") == etag:
            return _Response(304, b"", {"ETag": etag})
        return _Response(200, body, out)

    def _description(self, record: Mapping[str, Any], kinds: set[str]) -> str:
        return self._text_html(record, kinds) or to_weibo_html(record["text"])

    def _rss(self, records: Iterable[dict[str, Any]], base: str, kinds: set[str]) -> str:
        items = []
        for r in records:
            author = (r.get("author") or {}).get("name") or ""
            items.append(
                f"<item><title>{escape(r['text'][:30])}</title>"
                f"<description><![CDATA[{self._description(r, kinds)}]]></description>"
                f"<link>{escape(_link(r, base))}</link>"
                f'<guid isPermaLink="false">{escape(str(r["id"]))}</guid>'
                f"<pubDate>{rss_date(r['created_at'])}</pubDate><author>{escape(author)}</author></item>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>sentinel simulator</title><link>{base}</link><description>replay</description>"
            + "".join(items)
            + "</channel></rss>"
        )

    def _atom(self, records: Iterable[dict[str, Any]], base: str, kinds: set[str]) -> str:
        entries = []
        for r in records:
            author = (r.get("author") or {}).get("name") or ""
            entries.append(
                f"<entry><id>{escape(str(r['id']))}</id><title>{escape(r['text'][:30])}</title>"
                f'<link href="{escape(_link(r, base))}"/>'
                f"<updated>{r['created_at']}</updated><published>{r['created_at']}</published>"
                f"<author><name>{escape(author)}</name></author>"
                f'<content type="html">{escape(self._description(r, kinds))}</content></entry>'
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>sentinel simulator</title><id>{base}/feed/atom</id>"
            f"<updated>{self.clock.now().isoformat()}</updated>" + "".join(entries) + "</feed>"
        )


async def replay(feed: Feed, posts: list[dict[str, Any]], rate: float, clock: Clock) -> None:
    """Release ``rate`` posts per second into ``feed``, each stamped with its release time."""
    for post in posts:
        record = dict(post)
        record["created_at"] = (
            clock.now().astimezone(datetime.fromisoformat(post["created_at"]).tzinfo).isoformat()
        )
        try:
            feed.add(record)
        except PostError as exc:
            log.warning("skipping scenario post %s: %s", post.get("id"), exc)
        await asyncio.sleep(1.0 / rate)


async def serve_forever(
    posts: list[dict[str, Any]],
    *,
    host: str,
    port: int,
    faults: FaultPlan,
    rate: float | None = None,
    live: bool = False,
    style: str = "absolute",
    page_size: int = 10,
) -> None:
    """What ``sentinel simulate serve`` runs until interrupted.

    ``rate``: release that many posts per second, restamped with the release time;
    ``live``: serve each post once its own ``created_at`` has passed; neither: all at once.
    """
    clock = SystemClock()
    feed = Feed() if rate else Feed(posts)
    async with SimulatorServer(
        feed, host=host, port=port, faults=faults, clock=clock, style=style, page_size=page_size, live=live
    ) as srv:
        how = f", released at {rate}/s" if rate else ", played in real time" if live else ""
        log.info("simulator listening on %s (%d posts%s)", srv.url, len(posts), how)
        print(f"sentinel simulator on {srv.url} ({len(posts)} posts{how})", flush=True)
        if rate:
            await replay(feed, posts, rate, clock)
        await asyncio.Event().wait()
