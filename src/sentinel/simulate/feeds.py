"""What the simulator serves: a live feed of canonical posts, and each platform's shape of them.

:class:`Feed` holds canonical post dicts (DESIGN.md), newest first, and can grow while the
server runs (tests add posts between collection runs; ``--rate`` replays a scenario in
real time). The ``to_*`` functions dress one canonical post the way a platform would:
Weibo's ``mblog`` with HTML text, its date formats and "1.2万" counters; a WeChat
official-account article; RSS, Atom and JSON Feed items.

>>> html = to_weibo_html("太差了[怒] #艾克美翻车#")
>>> from sentinel.sources.html import html_to_text
>>> html_to_text(html)
'太差了[怒] #艾克美翻车#'
"""

from __future__ import annotations

import hashlib
import html
import importlib
import random
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from sentinel.clock import UTC8
from sentinel.post import PostError, parse_post

__all__ = [
    "Feed",
    "builtin_posts",
    "default_posts",
    "mid_to_bid",
    "rss_date",
    "to_json_feed_item",
    "to_mblog",
    "to_vendor_record",
    "to_wechat_article",
    "to_weibo_html",
    "weibo_count",
    "weibo_time",
]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOKEN = re.compile(r"(#[^#\n]{1,40}#|\[[^\[\]\s]{1,8}\]|@[\w\-]{1,30}|https?://[^\s<>\"']+)")
LONG_TEXT_CHARS = 140  # Weibo truncates the timeline text of longer posts


class Feed:
    """The posts the simulator serves, newest first; thread-unsafe, loop-local.

    >>> feed = Feed([{"platform": "weibo", "id": "1", "text": "a", "created_at": "2026-11-28T13:00:00+08:00"}])
    >>> [p["id"] for p in feed.select()]
    ['1']
    """

    def __init__(self, posts: Iterable[Mapping[str, Any]] = ()) -> None:
        self._posts: dict[str, dict[str, Any]] = {}
        self._order: list[tuple[float, int, str]] | None = None
        self._seq = 0
        for post in posts:
            self.add(post)

    def __len__(self) -> int:
        return len(self._posts)

    def add(self, post: Mapping[str, Any]) -> dict[str, Any]:
        """Add (or replace: new counters) one canonical post; raises PostError if it is not one."""
        parsed = parse_post(dict(post))  # the simulator serves only what a collector should accept
        record = parsed.to_dict()
        record["_mid"] = int(parsed.id) if parsed.id.isdigit() else self._synthetic_mid(parsed.created_at)
        record["_ts"] = parsed.created_at.timestamp()
        self._posts[parsed.id] = record
        self._order = None
        return record

    def _synthetic_mid(self, when: datetime) -> int:
        # Weibo ids grow with time; give non-numeric scenario ids a numeric, time-ordered one
        self._seq += 1
        return int(when.timestamp()) * 100_000 + self._seq % 100_000

    def get(self, post_id: str) -> dict[str, Any] | None:
        return self._posts.get(post_id)

    def by_mid(self, mid: str) -> dict[str, Any] | None:
        if mid in self._posts:
            return self._posts[mid]
        for record in self._posts.values():
            if str(record["_mid"]) == mid:
                return record
        return None

    def select(
        self,
        *,
        query: str | None = None,
        author: str | None = None,
        platform: str | None = None,
        until: float | None = None,
    ) -> list[dict[str, Any]]:
        """Posts newest first, filtered by a text query (substring, any case), author id, platform,
        and (``until``, a POSIX time) whether they exist yet, for a scenario played live."""
        if self._order is None:
            self._order = sorted(((r["_ts"], r["_mid"], k) for k, r in self._posts.items()), reverse=True)
        needle = query.lower() if query else None
        out = []
        for _, _, key in self._order:
            record = self._posts[key]
            if until is not None and record["_ts"] > until:
                continue
            if needle and needle not in record["text"].lower():
                continue
            if author and (record.get("author") or {}).get("id") != author:
                continue
            if platform and record["platform"] != platform:
                continue
            out.append(record)
        return out


# -- Weibo --------------------------------------------------------------------------------


def to_weibo_html(text: str) -> str:
    """Plain text as Weibo renders it: topics and mentions as links, emoticons as images."""
    parts: list[str] = []
    for i, piece in enumerate(_TOKEN.split(text)):
        if i % 2 == 0:
            parts.append(html.escape(piece, quote=False).replace("\n", "<br />"))
        elif piece.startswith("#"):
            href = "https://m.weibo.cn/search?containerid=231522type%3D1%26q%3D" + quote(piece)
            parts.append(
                f'<a  href="{href}" data-hide=""><span class="surl-text">{html.escape(piece)}</span></a>'
            )
        elif piece.startswith("["):
            name = hashlib.md5(piece.encode()).hexdigest()[:8]
            parts.append(
                '<span class="url-icon"><img alt="'
                + html.escape(piece)
                + f'" src="https://h5.sinaimg.cn/m/emoticon/icon/default/d_{name}.png" '
                'style="width:1em; height:1em;" /></span>'
            )
        elif piece.startswith("@"):
            parts.append(f"<a href='/n/{quote(piece[1:])}'>{html.escape(piece)}</a>")
        else:
            parts.append(
                f'<a data-url="{html.escape(piece)}" href="{html.escape(piece)}"><span class="url-icon">'
                '<img style="width: 1rem;height: 1rem" src="https://h5.sinaimg.cn/upload/2015/09/25/3/'
                'timeline_card_small_web_default.png"></span><span class="surl-text">网页链接</span></a>'
            )
    return "".join(parts)


def weibo_time(when: datetime, now: datetime, style: str = "absolute") -> str:
    """``created_at`` as Weibo writes it: absolute, or (``style="mixed"``) relative when recent."""
    local = when.astimezone(UTC8)
    if style == "mixed":
        local_now = now.astimezone(UTC8)
        age = (local_now - local).total_seconds()
        if 0 <= age < 60:
            return "刚刚"
        if 0 <= age < 3600:
            return f"{int(age // 60)}分钟前"
        if 0 <= age < 86400 and local.date() == local_now.date():
            return f"{int(age // 3600)}小时前" if age < 6 * 3600 else f"今天 {local:%H:%M}"
        if local.date() == (local_now - timedelta(days=1)).date():
            return f"昨天 {local:%H:%M}"
        if local.year == local_now.year and age >= 0:
            return f"{local:%m-%d}"
        return f"{local:%Y-%m-%d}"
    return (
        f"{_DAYS[local.weekday()]} {_MONTHS[local.month - 1]} {local.day:02d} "
        f"{local:%H:%M:%S} +0800 {local.year}"
    )


def weibo_count(n: int, style: str = "absolute") -> int | str:
    """A counter as Weibo shows it: exact, or (``style="mixed"``) "1.2万", "123万", "1.5亿"."""
    if style != "mixed" or n < 10_000:
        return n
    if n >= 100_000_000:
        return f"{n / 100_000_000:.1f}亿"
    if n >= 1_000_000:
        return f"{n // 10_000}万"
    return f"{n / 10_000:.1f}万"


def _user(author: Mapping[str, Any] | None, style: str) -> dict[str, Any] | None:
    if not author:
        return None
    uid = str(author.get("id") or "")
    verified = bool(author.get("verified"))
    return {
        "id": int(uid) if uid.isdigit() else zlib.crc32(uid.encode()) + 1_000_000_000,
        "screen_name": author.get("name") or f"用户{uid}",
        "profile_image_url": "https://tvax1.sinaimg.cn/crop.0.0.180.180.180/default.jpg",
        "followers_count": weibo_count(int(author.get("followers") or 0), style),
        "verified": verified,
        "verified_type": author.get("verified_type", 0 if verified else -1),
    }


def to_mblog(
    record: Mapping[str, Any],
    now: datetime,
    *,
    feed: Feed | None = None,
    style: str = "absolute",
    text_html: str | None = None,
    nested: bool = False,
) -> dict[str, Any]:
    """A canonical post (feed record) as an m.weibo.cn ``mblog``, its original nested when known."""
    mid = str(record.get("_mid") or record["id"])
    text = record["text"]
    long = len(text) > LONG_TEXT_CHARS
    body = text_html if text_html is not None else to_weibo_html(text[:LONG_TEXT_CHARS] if long else text)
    if long:
        body += f'...<a href="/status/{mid}">全文</a>'
    created = datetime.fromisoformat(record["created_at"])
    mblog: dict[str, Any] = {
        "visible": {"type": 0, "list_id": 0},
        "created_at": weibo_time(created, now, style),
        "id": mid,
        "mid": mid,
        "bid": mid_to_bid(int(mid)),
        "can_edit": False,
        "text": body,
        "textLength": len(text.encode("gbk", "replace")),
        "source": "iPhone客户端",
        "favorited": False,
        "isLongText": long,
        "user": _user(record.get("author"), style),
        "reposts_count": weibo_count(int(record.get("reposts") or 0), style),
        "comments_count": weibo_count(int(record.get("comments") or 0), style),
        "attitudes_count": weibo_count(int(record.get("likes") or 0), style),
        "pic_num": 0,
    }
    repost_of = record.get("repost_of")
    if repost_of and not nested:
        original = feed.get(str(repost_of)) if feed is not None else None
        if original is not None:
            mblog["retweeted_status"] = to_mblog(original, now, feed=feed, style=style, nested=True)
        else:
            mblog["retweeted_status"] = {
                "id": str(repost_of),
                "mid": str(repost_of),
                "created_at": "",
                "user": None,
                "deleted": "1",
                "text": "抱歉，此微博已被作者删除。查看帮助：<a href='https://m.weibo.cn/c/4'>网页链接</a>",
            }
    return mblog


_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def mid_to_bid(mid: int) -> str:
    """Weibo's short id: the mid in groups of 7 decimal digits, each written in base 62."""
    digits = str(mid)
    groups = []
    while digits:
        digits, chunk = digits[:-7], digits[-7:]
        n, out = int(chunk), ""
        while n:
            n, r = divmod(n, 62)
            out = _BASE62[r] + out
        groups.append(out.rjust(4, "0") if digits else out or "0")
    return "".join(reversed(groups))


# -- WeChat, feeds, vendor JSON -------------------------------------------------------------


def _title(text: str) -> str:
    first = text.strip().split("\n", 1)[0]
    return first[:30] if first else "(无标题)"


def to_wechat_article(record: Mapping[str, Any], text_html: str | None = None) -> dict[str, Any]:
    """An official-account article as ``cgi-bin/appmsg?action=list_ex`` lists it."""
    ts = (
        int(record["_ts"])
        if "_ts" in record
        else int(datetime.fromisoformat(record["created_at"]).timestamp())
    )
    text = record["text"]
    content = (
        text_html
        if text_html is not None
        else "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in text.split("\n"))
    )
    author = record.get("author") or {}
    return {
        "aid": str(record["id"]),
        "appmsgid": int(record.get("_mid") or 0),
        "itemidx": 1,
        "title": _title(text),
        "digest": text[:54],
        "content": content,
        "link": f"https://mp.weixin.qq.com/s/{record['id']}",
        "author_name": author.get("name") or "",
        "create_time": ts,
        "update_time": ts,
        "read_num": int(record.get("reposts") or 0) * 10,
        "like_num": int(record.get("likes") or 0),
        "old_like_num": int(record.get("likes") or 0),
        "cover": "https://mmbiz.qpic.cn/cover.jpg",
    }


def to_json_feed_item(record: Mapping[str, Any], base: str) -> dict[str, Any]:
    """A JSON Feed 1.1 item."""
    author = record.get("author") or {}
    return {
        "id": str(record["id"]),
        "url": record.get("url") or f"{base}/p/{record['id']}",
        "title": _title(record["text"]),
        "content_html": to_weibo_html(record["text"]),
        "date_published": record["created_at"],
        "authors": [{"name": author.get("name") or ""}],
    }


def rss_date(iso: str) -> str:
    """An ISO 8601 time as RFC 822, the way ``<pubDate>`` wants it."""

    return format_datetime(datetime.fromisoformat(iso))


def to_vendor_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A made-up vendor API's shape, for the declarative ``jsonfeed`` source."""
    created = datetime.fromisoformat(record["created_at"]).astimezone(UTC8)
    author = record.get("author") or {}
    return {
        "mid": str(record["id"]),
        "content": record["text"],
        "time": f"{created:%Y-%m-%d %H:%M:%S}",
        "user": {"uid": author.get("id"), "nick": author.get("name"), "fans": author.get("followers", 0)},
        "stats": {
            "share": record.get("reposts", 0),
            "reply": record.get("comments", 0),
            "like": record.get("likes", 0),
        },
        "link": record.get("url"),
    }


# -- built-in stream ------------------------------------------------------------------------

_CHATTER = (
    "今天在{b}买了新款耳机，音质不错",
    "{b}的客服回复挺快的",
    "有人用过{b}的扫地机器人吗？",
    "{b}新品发布会看了，感觉一般般",
    "周末去{b}门店逛了逛[哈哈]",
    "{b}这次活动力度还可以 #双十一#",
)
_CRISIS = (
    "{b}的充电器爆炸了！！差点烧到孩子[怒] #{b}充电器爆炸#",
    "{b}客服推卸责任，太恶心了[怒]",
    "转发扩散：{b}产品质量问题，已经投诉到消协 #{b}充电器爆炸#",
    "再也不买{b}了，退钱！[怒][怒]",
    "{b}至今没有回应，这就是大品牌的态度？ #{b}充电器爆炸#",
)


def builtin_posts(
    n: int = 300,
    *,
    start: datetime | None = None,
    seed: int = 7,
    brand: str = "艾克美",
    crisis_at: float = 0.6,
) -> Iterator[dict[str, Any]]:
    """A deterministic stream: everyday chatter, then a crisis with a repost cascade.

    Ids are numeric and grow with time, like Weibo's; posts are a minute apart.
    """
    rng = random.Random(seed)
    start = start or datetime(2026, 11, 28, 8, 0, tzinfo=UTC8)
    base_id = 5_200_000_000_000_000
    crisis_roots: list[str] = []
    for i in range(n):
        when = start + timedelta(seconds=60 * i + rng.randint(0, 50))
        in_crisis = i >= n * crisis_at
        template = rng.choice(_CRISIS if in_crisis else _CHATTER)
        pid = str(base_id + i * 1000 + rng.randint(0, 999))
        verified = rng.random() < (0.2 if in_crisis else 0.05)
        followers = rng.choice((35, 420, 2_300, 18_000, 260_000, 3_400_000 if verified else 9_100))
        post: dict[str, Any] = {
            "platform": "weibo",
            "id": pid,
            "text": template.format(b=brand),
            "created_at": when.isoformat(),
            "author": {
                "id": str(1_000_000_000 + rng.randint(0, 99_999)),
                "name": f"用户{rng.randint(1000, 9999)}",
                "followers": followers,
                "verified": verified,
            },
            "reposts": rng.randint(0, 5) * (40 if in_crisis else 1),
            "comments": rng.randint(0, 30),
            "likes": rng.randint(0, 200),
            "url": f"https://m.weibo.cn/detail/{pid}",
            "repost_of": None,
        }
        if in_crisis and crisis_roots and rng.random() < 0.5:
            post["repost_of"] = rng.choice(crisis_roots)
            post["text"] = "转发微博 //" + post["text"]
        elif in_crisis:
            crisis_roots.append(pid)
        yield post


def default_posts(
    name: str = "demo", *, start: datetime | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """The stream ``simulate serve`` plays without ``--scenario``: the shared labelled scenario
    (``sentinel.simulate.scenario``) when it is there, else :func:`builtin_posts`."""
    start = start or datetime(2026, 11, 28, 8, 0, tzinfo=UTC8)
    try:  # written alongside the risk engine; optional here
        scenario = importlib.import_module("sentinel.simulate.scenario")
    except ImportError:
        return list(builtin_posts(start=start, seed=seed))
    out = []
    for post in scenario.generate(name, start=start, seed=seed):
        record = {k: v for k, v in post.items() if k != "label"}  # the truth labels stay off the wire
        try:
            parse_post(record)
        except PostError:
            continue
        out.append(record)
    return out
