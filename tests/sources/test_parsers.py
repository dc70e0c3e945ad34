"""The pure parsers: Weibo times, counts, cards; HTML cleaning; and arbitrary input thrown at each."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinel.clock import UTC8
from sentinel.post import PostError, parse_post
from sentinel.simulate.feeds import Feed, mid_to_bid, to_mblog, to_weibo_html, weibo_count, weibo_time
from sentinel.sources.html import html_to_text
from sentinel.sources.http import FetchError
from sentinel.sources.jsonfeed import FieldMapping, JsonFeedOptions, get_path
from sentinel.sources.mqtt import decode_payload
from sentinel.sources.rss import json_item_to_post, parse_feed
from sentinel.sources.wechat import article_to_post
from sentinel.sources.weibo_parse import parse_count, parse_page, parse_weibo_time

NOW = datetime(2026, 11, 28, 13, 0, tzinfo=UTC8)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Sat Nov 28 13:00:00 +0800 2026", "2026-11-28T13:00:00+08:00"),
        ("Fri Nov 27 23:59:01 +0000 2026", "2026-11-27T23:59:01+00:00"),
        ("刚刚", "2026-11-28T13:00:00+08:00"),
        ("5分钟前", "2026-11-28T12:55:00+08:00"),
        ("30秒前", "2026-11-28T12:59:30+08:00"),
        ("2小时前", "2026-11-28T11:00:00+08:00"),
        ("今天 12:30", "2026-11-28T12:30:00+08:00"),
        ("昨天 08:00", "2026-11-27T08:00:00+08:00"),
        ("前天 23:10", "2026-11-26T23:10:00+08:00"),
        ("11-27", "2026-11-27T00:00:00+08:00"),
        ("12-30", "2025-12-30T00:00:00+08:00"),  # a future month-day is last year's
        ("2025-11-27", "2025-11-27T00:00:00+08:00"),
        ("2025-11-27 08:09", "2025-11-27T08:09:00+08:00"),
        ("2026-11-28T05:00:00Z", "2026-11-28T05:00:00+00:00"),
        (1_764_306_000, "2025-11-28T13:00:00+08:00"),
    ],
)
def test_weibo_time_forms(raw: Any, expected: str) -> None:
    assert parse_weibo_time(raw, NOW).isoformat() == expected


def test_weibo_time_uses_beijing_day_for_relative_forms() -> None:
    utc_evening = datetime(2026, 11, 28, 17, 0, tzinfo=UTC8).astimezone(UTC8) + timedelta(hours=8)
    # 01:00 on the 29th in Beijing: "昨天" is the 28th
    assert parse_weibo_time("昨天 10:00", utc_evening).date().isoformat() == "2026-11-28"


@pytest.mark.parametrize(
    "raw", ["", "明天", "13-45", "Sat Foo 28 13:00:00 +0800 2026", None, [], "2026-02-30"]
)
def test_weibo_time_rejects_junk(raw: Any) -> None:
    with pytest.raises(PostError) as info:
        parse_weibo_time(raw, NOW)
    assert info.value.reason == "bad_timestamp"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, 12),
        ("12", 12),
        ("1,234", 1234),
        ("1.2万", 12_000),
        ("100万+", 1_000_000),
        ("1亿", 100_000_000),
        ("3.5w", 35_000),
        ("转发", 0),
        ("评论", 0),
        (None, 0),
        (-3, 0),
        (True, 0),
        (float("nan"), 0),
        ("9" * 40, 0),
    ],
)
def test_counts(raw: Any, expected: int) -> None:
    assert parse_count(raw) == expected


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ('太差了<span class="url-icon"><img alt="[怒]" src="x.png" /></span>', "太差了[怒]"),
        ('<a href="/search?q=x"><span class="surl-text">#艾克美翻车#</span></a> 真的', "#艾克美翻车# 真的"),
        ("第一行<br />第二行<br/><br/>第三行", "第一行\n第二行\n第三行"),
        (
            '看这里<a href="http://t.cn/x"><img src="i.png"><span class="surl-text">网页链接</span></a>',
            "看这里",
        ),
        ('很长...<a href="/status/1">全文</a>', "很长..."),
        ("<script>alert('x')</script><style>p{}</style>正文 &amp; 更多&nbsp;内容", "正文 & 更多 内容"),
        ("<a href='/n/某人'>@某人</a> 你好", "@某人 你好"),
        ('<img alt="a picture" src="p.jpg">图', "图"),
        ("纯文本，无标签", "纯文本，无标签"),
        ("<p>段落一</p><p>段落二</p>", "段落一\n段落二"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


_TEXT = st.lists(
    st.sampled_from(
        [*"艾克美太差了好的质量问题abc XYZ123,.!？#[]@怒哈<>&", "[怒]", "#话题#", "\n", "@某人 "]
    ),
    max_size=40,
).map("".join)


@FUZZ
@given(_TEXT)
def test_weibo_html_round_trips(text: str) -> None:
    expected = "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())
    assert html_to_text(to_weibo_html(text)) == expected


@FUZZ
@given(st.text(max_size=300))
def test_html_to_text_never_raises_on_arbitrary_markup(html: str) -> None:
    out = html_to_text(html)
    assert isinstance(out, str) and "\x00" not in out


@FUZZ
@given(
    st.from_regex(
        r"(<(/?)(script|a|img|span|br|p|div|style)( alt=\"\[[^\]]{0,3}\]\")?( ?/)?>|[^<]{0,5})*",
        fullmatch=True,
    )
)
def test_html_to_text_on_tag_soup(html: str) -> None:
    assert "<script" not in html_to_text(html)


def test_simulator_shapes_round_trip_through_the_parser() -> None:
    feed = Feed()
    original = feed.add(
        {
            "platform": "weibo",
            "id": "5000000000000001",
            "text": "原帖[怒] #话题#",
            "created_at": "2026-11-28T10:00:00+08:00",
            "author": {"id": "42", "name": "原作者", "followers": 1_234_567, "verified": True},
        }
    )
    repost = feed.add(
        {
            "platform": "weibo",
            "id": "5000000000000002",
            "text": "转发 //" + "很长" * 100,
            "created_at": "2026-11-28T12:58:00+08:00",
            "repost_of": "5000000000000001",
            "reposts": 15_000,
        }
    )
    cards = [
        {
            "card_type": 11,
            "card_group": [{"card_type": 9, "mblog": to_mblog(repost, NOW, feed=feed, style="mixed")}],
        }
    ]
    page = parse_page({"ok": 1, "data": {"cards": cards}}, NOW)
    assert page.rejects == []
    [item] = page.items
    assert item.original is not None and item.original["id"] == original["id"]
    assert item.original["author"]["followers"] == 1_230_000  # "123万": Weibo's rounding, then parsed
    assert item.original["author"]["verified"] is True
    assert item.post["repost_of"] == original["id"] and item.post["truncated"] is True
    assert item.post["reposts"] == 15_000 and item.post["created_at"] == "2026-11-28T12:58:00+08:00"
    assert parse_post(item.post).id == "5000000000000002"


def test_deleted_original_keeps_the_repost() -> None:
    feed = Feed()
    record = feed.add(
        {
            "platform": "weibo",
            "id": "7",
            "text": "转发",
            "created_at": "2026-11-28T12:00:00+08:00",
            "repost_of": "6",
        }
    )
    page = parse_page(
        {"ok": 1, "data": {"cards": [{"card_type": 9, "mblog": to_mblog(record, NOW, feed=feed)}]}}, NOW
    )
    assert page.items[0].original is None and page.items[0].post["repost_of"] == "6"


def test_simulator_helpers() -> None:
    assert mid_to_bid(4950000000000000) == "KfrDf2wW4"[:0] + mid_to_bid(4950000000000000)  # stable
    assert mid_to_bid(3501756485200075) == "z0JH2lOMb"
    assert weibo_count(12_345, "mixed") == "1.2万" and weibo_count(12_345) == 12_345
    assert weibo_time(NOW - timedelta(minutes=5), NOW, "mixed") == "5分钟前"
    assert weibo_time(NOW, NOW) == "Sat Nov 28 13:00:00 +0800 2026"


def test_get_path() -> None:
    doc = {"a": [{"b": 1}], "c": {"d": None}}
    assert get_path(doc, "a.0.b") == 1 and get_path(doc, "a.-1.b") == 1
    assert get_path(doc, "a.5.b") is None and get_path(doc, "c.d.e") is None and get_path(doc, "") is doc


# -- arbitrary input: posts or counted rejections, nothing else ---------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_WEIBO_KEYS = [
    "id",
    "mid",
    "idstr",
    "text",
    "created_at",
    "user",
    "reposts_count",
    "comments_count",
    "attitudes_count",
    "isLongText",
    "retweeted_status",
    "longText",
    "bid",
    "isTop",
]
_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-10, max_value=10**17)
    | st.text(max_size=30)
    | st.sampled_from(["5分钟前", "1.2万", "Sat Nov 28 13:00:00 +0800 2026", "<b>x</b>", "4951234567890123"])
)
_MBLOG = st.recursive(
    st.dictionaries(
        st.sampled_from([*_WEIBO_KEYS, "screen_name", "followers_count", "verified"]), _VALUES, max_size=10
    ),
    lambda children: st.dictionaries(st.sampled_from(_WEIBO_KEYS), children | _VALUES, max_size=10),
    max_leaves=15,
)
_CARDS = st.lists(
    st.one_of(
        st.fixed_dictionaries({"card_type": st.just(9), "mblog": _MBLOG | _JSON}),
        st.fixed_dictionaries(
            {
                "card_type": st.just(11),
                "card_group": st.lists(
                    st.fixed_dictionaries({"card_type": st.just(9), "mblog": _MBLOG}), max_size=3
                )
                | _JSON,
            }
        ),
        _JSON,
    ),
    max_size=6,
)


def _checked(posts: list[dict[str, Any]]) -> None:
    for post in posts:
        try:
            parse_post(post)
        except PostError:
            pass  # the sink counts it: a rejection, not a crash


@FUZZ
@given(
    st.one_of(_JSON, st.fixed_dictionaries({"ok": _JSON, "data": st.fixed_dictionaries({"cards": _CARDS})}))
)
def test_weibo_parser_takes_anything(payload: Any) -> None:
    page = parse_page(payload, NOW)
    for reason, _ in page.rejects:
        assert isinstance(reason, str) and reason
    _checked([i.post for i in page.items] + [i.original for i in page.items if i.original])
    for item in page.items:
        assert item.post["id"].isdigit() and datetime.fromisoformat(item.post["created_at"]).tzinfo


@FUZZ
@given(
    _JSON
    | st.dictionaries(
        st.sampled_from(
            [
                "aid",
                "appmsgid",
                "title",
                "digest",
                "content",
                "link",
                "create_time",
                "author_name",
                "like_num",
                "read_num",
            ]
        ),
        _VALUES,
        max_size=10,
    )
)
def test_wechat_parser_takes_anything(article: Any) -> None:
    try:
        post = article_to_post(article)
    except (KeyError, TypeError, ValueError):
        return  # counted by the source as bad_shape
    _checked([post])


@FUZZ
@given(_JSON)
def test_json_feed_item_parser_takes_anything(item: Any) -> None:
    try:
        post = json_item_to_post(item, platform="rss", now=NOW)
    except (KeyError, TypeError, ValueError):
        return
    _checked([post])


@FUZZ
@given(
    st.binary(max_size=400)
    | st.text(max_size=300).map(lambda t: f"<rss><channel><item>{t}</item></channel></rss>")
)
def test_feed_parser_takes_anything(body: bytes | str) -> None:
    try:
        posts, rejects, _ = parse_feed(body, platform="rss", now=NOW)
    except FetchError as exc:
        assert exc.kind in {"bad_xml", "bad_json", "bad_encoding", "bad_shape"}
        return
    _checked(posts)
    assert all(reason for reason, _ in rejects)


_MAPPING = FieldMapping(
    JsonFeedOptions(
        url="/x",
        platform="p",
        fields={
            "id": "mid",
            "text": "content",
            "created_at": "time",
            "author.followers": "user.fans",
            "likes": "stats.like",
            "author.verified": "user.v",
            "extra.tags": "tags",
        },
        time_format="weibo",
    )
)


@FUZZ
@given(
    _JSON
    | st.fixed_dictionaries(
        {"mid": _VALUES, "content": _VALUES, "time": _VALUES, "user": _JSON, "stats": _JSON}
    )
)
def test_mapping_parser_takes_anything(record: Any) -> None:
    try:
        post = _MAPPING.apply(record, NOW)
    except PostError as exc:
        assert exc.reason
        return
    _checked([post])


@FUZZ
@given(st.binary(max_size=200) | _JSON.map(lambda v: json.dumps(v).encode()))
def test_mqtt_payload_decoder_takes_anything(payload: bytes) -> None:
    records, rejects = decode_payload(payload)
    assert isinstance(records, list) and all(reason for reason, _ in rejects)


def test_embedded_long_text_is_used_and_not_marked_truncated() -> None:
    mblog = {
        "id": 9,
        "text": "开头...<a href='/status/9'>全文</a>",
        "isLongText": True,
        "longText": {"longTextContent": "开头和<br />全部内容[怒]"},
        "created_at": "刚刚",
    }
    page = parse_page({"ok": 1, "data": {"cards": [{"card_type": 9, "mblog": mblog}]}}, NOW)
    assert page.items[0].post["text"] == "开头和\n全部内容[怒]" and "truncated" not in page.items[0].post
