"""Pure parsing of m.weibo.cn JSON: cards -> mblogs -> canonical post dicts.

No I/O and no wall clock: relative times ("5分钟前", "昨天 08:00") are resolved against
the ``now`` the caller passes (the source's injected clock), in Beijing time, which is
what Weibo shows. Anything malformed becomes a counted rejection ``(reason, detail)``,
never an exception, so one odd card cannot cost the rest of the page.

>>> from datetime import datetime
>>> from sentinel.clock import UTC8
>>> now = datetime(2026, 11, 28, 13, 0, tzinfo=UTC8)
>>> parse_weibo_time("5分钟前", now).isoformat()
'2026-11-28T12:55:00+08:00'
>>> parse_count("1.2万"), parse_count("100万+"), parse_count("1亿")
(12000, 1000000, 100000000)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sentinel.clock import UTC8
from sentinel.post import PostError
from sentinel.sources.html import html_to_text

__all__ = [
    "WeiboItem",
    "WeiboPage",
    "iter_mblogs",
    "mblog_to_post",
    "parse_count",
    "parse_page",
    "parse_weibo_time",
]

PLATFORM = "weibo"
MAX_CARD_DEPTH = 4  # card_group inside card_group is seen; deeper is junk
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
_RFC = re.compile(r"^\w{3} (\w{3}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$")
_AGO = re.compile(r"^(\d+)\s*(秒|分钟|小时|天)前$")
_DAY_WORD = re.compile(r"^(今天|昨天|前天)\s*(\d{1,2}):(\d{2})$")
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$")
_FULL_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_COUNT = re.compile(r"^(\d+(?:\.\d+)?)\s*(万|亿|w|W|k|K)?\+?$")
_COUNT_UNITS = {None: 1, "万": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000, "k": 1000, "K": 1000}
_AGO_UNITS = {"秒": 1, "分钟": 60, "小时": 3600, "天": 86400}
_DAY_OFFSET = {"今天": 0, "昨天": 1, "前天": 2}


def parse_count(value: Any) -> int:
    """Counts as Weibo writes them: ``12``, ``"12"``, ``"1,234"``, ``"1.2万"``, ``"100万+"``, ``"1亿"``.

    Labels shown instead of zero ("转发", "赞") and anything unreadable count as 0: a bad
    counter is no reason to drop a post.
    """
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float):
        return max(int(value), 0) if math.isfinite(value) else 0
    if not isinstance(value, str):
        return 0
    m = _COUNT.match(value.strip().replace(",", ""))
    if not m:
        return 0
    number = float(m.group(1)) * _COUNT_UNITS[m.group(2)]
    return round(number) if math.isfinite(number) and number < 1e15 else 0


def parse_weibo_time(value: Any, now: datetime) -> datetime:
    """Every ``created_at`` form Weibo uses, resolved against ``now`` in Beijing time.

    Raises :class:`PostError` (``bad_timestamp``) for anything else.
    """
    local_now = now.astimezone(UTC8)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        if 0 < value < 1e11:  # epoch seconds
            return datetime.fromtimestamp(value, UTC8)
        raise PostError("bad_timestamp", f"epoch out of range: {value!r}")
    if not isinstance(value, str):
        raise PostError("bad_timestamp", f"created_at must be a string, got {type(value).__name__}")
    text = value.strip()
    try:
        if m := _RFC.match(text):
            month = _MONTHS.get(m.group(1))
            if month is None:
                raise ValueError(m.group(1))
            offset = timedelta(hours=int(m.group(7)), minutes=int(m.group(8)))
            tz = UTC8 if offset == timedelta(hours=8) and m.group(6) == "+" else None
            if tz is None:
                tz = timezone(offset if m.group(6) == "+" else -offset)
            return datetime(
                int(m.group(9)),
                month,
                int(m.group(2)),
                int(m.group(3)),
                int(m.group(4)),
                int(m.group(5)),
                tzinfo=tz,
            )
        if text in ("刚刚", "刚才"):
            return local_now
        if m := _AGO.match(text):
            return local_now - timedelta(seconds=int(m.group(1)) * _AGO_UNITS[m.group(2)])
        if m := _DAY_WORD.match(text):
            day = local_now - timedelta(days=_DAY_OFFSET[m.group(1)])
            return day.replace(hour=int(m.group(2)), minute=int(m.group(3)), second=0, microsecond=0)
        if m := _MONTH_DAY.match(text):
            hour, minute = int(m.group(3) or 0), int(m.group(4) or 0)
            when = local_now.replace(
                month=int(m.group(1)), day=int(m.group(2)), hour=hour, minute=minute, second=0, microsecond=0
            )
            if when > local_now + timedelta(days=1):  # "12-31" seen on Jan 1st is last year
                when = when.replace(year=when.year - 1)
            return when
        if m := _FULL_DATE.match(text):
            return datetime(
                int(m.group(1)),
                int(m.group(2)),
                int(m.group(3)),
                int(m.group(4) or 0),
                int(m.group(5) or 0),
                int(m.group(6) or 0),
                tzinfo=UTC8,
            )
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC8)
    except (ValueError, OverflowError):
        raise PostError("bad_timestamp", f"unreadable created_at {text[:40]!r}") from None


@dataclass(slots=True)
class WeiboItem:
    """One post of a page; ``original`` is the reposted post, emitted too, before it."""

    post: dict[str, Any]
    original: dict[str, Any] | None = None
    pinned: bool = False  # a user's pinned post is old news at the top of the timeline


@dataclass(slots=True)
class WeiboPage:
    """A parsed ``getIndex`` page: its posts and the cards that could not be read."""

    items: list[WeiboItem] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)


def _id_of(mblog: dict[str, Any]) -> str:
    for key in ("id", "mid", "idstr"):
        value = mblog.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        if isinstance(value, str) and value.strip().isdigit():
            return value.strip()
    raise PostError("missing_field", "mblog has no numeric id/mid")


def _author(user: Any) -> dict[str, Any] | None:
    if not isinstance(user, dict):
        return None
    uid = user.get("id")
    if isinstance(uid, bool) or not isinstance(uid, int | str) or not str(uid).strip():
        uid = None
    name = user.get("screen_name")
    author: dict[str, Any] = {
        "id": None if uid is None else str(uid).strip()[:64],
        "name": name[:200] if isinstance(name, str) else None,
        "followers": parse_count(user.get("followers_count")),
        "verified": user.get("verified") is True,
    }
    verified_type = user.get("verified_type")
    if isinstance(verified_type, int) and not isinstance(verified_type, bool):
        author["verified_type"] = verified_type
    return author


def mblog_to_post(mblog: Any, now: datetime, *, long_text: str | None = None) -> dict[str, Any]:
    """One ``mblog`` object as a canonical post dict (the repost link, not the original)."""
    if not isinstance(mblog, dict):
        raise PostError("not_object", f"mblog must be an object, got {type(mblog).__name__}")
    post_id = _id_of(mblog)
    raw_text = long_text
    if raw_text is None:
        embedded = mblog.get("longText")
        if isinstance(embedded, dict) and isinstance(embedded.get("longTextContent"), str):
            raw_text = embedded["longTextContent"]
    full = raw_text is not None
    if raw_text is None:
        raw_text = mblog.get("text")
    if not isinstance(raw_text, str):
        raise PostError("missing_field", f"mblog {post_id} has no text")
    post: dict[str, Any] = {
        "platform": PLATFORM,
        "id": post_id,
        "text": html_to_text(raw_text),
        "created_at": parse_weibo_time(mblog.get("created_at"), now).isoformat(),
        "author": _author(mblog.get("user")),
        "reposts": parse_count(mblog.get("reposts_count")),
        "comments": parse_count(mblog.get("comments_count")),
        "likes": parse_count(mblog.get("attitudes_count")),
        "url": f"https://m.weibo.cn/detail/{post_id}",
        "repost_of": None,
    }
    bid = mblog.get("bid")
    if isinstance(bid, str) and bid.isalnum():
        post["bid"] = bid
    if mblog.get("isLongText") is True and not full:
        post["truncated"] = True  # full text not fetched; the classifier sees the first ~140 chars
    return post


def _item(mblog: Any, now: datetime) -> WeiboItem:
    post = mblog_to_post(mblog, now)
    original = None
    retweeted = mblog.get("retweeted_status")
    if isinstance(retweeted, dict):
        try:
            original = mblog_to_post(retweeted, now)
            post["repost_of"] = original["id"]
        except PostError:
            # a deleted original ("抱歉，此微博已被作者删除") has no user or text: keep the repost
            rid = retweeted.get("id") or retweeted.get("mid")
            if isinstance(rid, int | str) and not isinstance(rid, bool) and str(rid).strip().isdigit():
                post["repost_of"] = str(rid).strip()
    return WeiboItem(post=post, original=original, pinned=mblog.get("isTop") in (1, True))


def iter_mblogs(cards: Any, depth: int = 0) -> Iterator[Any]:
    """The ``mblog`` of every card_type 9 card, descending into card_type 11 ``card_group``s."""
    if not isinstance(cards, list) or depth > MAX_CARD_DEPTH:
        return
    for card in cards:
        if not isinstance(card, dict):
            continue
        if "mblog" in card and card.get("card_type") in (9, "9", None):
            yield card["mblog"]
        group = card.get("card_group")
        if group is not None:
            yield from iter_mblogs(group, depth + 1)


def parse_page(payload: Any, now: datetime) -> WeiboPage:
    """Every post of a decoded ``getIndex`` response; malformed cards become rejections."""
    page = WeiboPage()
    data = payload.get("data") if isinstance(payload, dict) else None
    cards = data.get("cards") if isinstance(data, dict) else None
    if cards is None:
        return page
    if not isinstance(cards, list):
        page.rejects.append(("bad_shape", "data.cards is not a list"))
        return page
    for mblog in iter_mblogs(cards):
        try:
            page.items.append(_item(mblog, now))
        except PostError as exc:
            page.rejects.append((exc.reason, exc.detail))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            page.rejects.append(("bad_shape", f"{type(exc).__name__}: {exc}"[:200]))
    return page
