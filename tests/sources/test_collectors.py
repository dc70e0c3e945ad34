"""WeChat, RSS, Atom, JSON Feed and mapped-JSON collectors against the simulator, with every fault."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from sentinel.clock import ManualClock
from sentinel.obs.metrics import Metrics
from sentinel.simulate.server import SimulatorServer
from sentinel.sources import SOURCE_TYPES
from sentinel.sources.base import SourceContext
from sentinel.sources.jsonfeed import JsonFeedSource
from sentinel.sources.rss import RssSource
from sentinel.sources.wechat import WechatSource

from .conftest import FAST, RecordingSink, errors, make_posts

VENDOR_FIELDS = {
    "id": "mid",
    "text": "content",
    "created_at": "time",
    "author.id": "user.uid",
    "author.name": "user.nick",
    "author.followers": "user.fans",
    "reposts": "stats.share",
    "comments": "stats.reply",
    "likes": "stats.like",
    "url": "link",
}

# name -> (simulator endpoint, source class, options for a simulator at URL)
COLLECTORS: dict[str, tuple[str, type, Callable[[str], dict[str, Any]]]] = {
    "wechat": ("wechat", WechatSource, lambda url: {"base_url": url, "count": 5}),
    "rss": ("rss", RssSource, lambda url: {"base_url": url, "url": "/feed/rss"}),
    "atom": ("atom", RssSource, lambda url: {"base_url": url, "url": "/feed/atom"}),
    "json_feed": ("jsonfeed", RssSource, lambda url: {"base_url": url, "url": "/feed/json"}),
    "vendor": (
        "posts",
        JsonFeedSource,
        lambda url: {
            "base_url": url,
            "url": "/api/posts",
            "platform": "weibo",
            "items": "data.list",
            "page_param": "page",
            "params": {"size": 5},
            "has_more": "data.has_more",
            "ok_path": "code",
            "ok_value": 0,
            "time_format": "%Y-%m-%d %H:%M:%S",
            "fields": VENDOR_FIELDS,
        },
    ),
}
TYPES = {WechatSource: "wechat", RssSource: "rss", JsonFeedSource: "jsonfeed"}
XML = {"rss", "atom"}


def build(name: str, make_ctx: Callable[..., SourceContext], srv: SimulatorServer, **extra: Any) -> Any:
    _, cls, options = COLLECTORS[name]
    return cls(make_ctx(TYPES[cls], {**options(srv.url), **FAST, **extra}))


async def run(source: Any, sink: RecordingSink, clock: ManualClock, times: int = 1) -> None:
    for _ in range(times):
        await source.collect(sink)
        clock.advance(timedelta(hours=2))  # past any run backoff


def expected_kind(name: str, fault: str) -> str:
    kind = fault.split(":")[0]
    if kind in ("truncated", "malformed"):
        return "bad_xml" if name in XML else "bad_json"
    return {
        "429": "http_429",
        "500": "http_5xx",
        "502": "http_5xx",
        "timeout": "timeout",
        "bad_utf8": "bad_encoding",
        "huge": "too_large",
    }[kind]


@pytest.mark.parametrize("name", list(COLLECTORS))
async def test_collects_everything_once_and_resumes_after_restart(name, make_ctx, simulator, metrics, clock):
    posts = make_posts(15)
    for p in posts[:8]:
        simulator.feed.add(p)
    first = RecordingSink(metrics, "src")
    source = build(name, make_ctx, simulator)
    await run(source, first, clock)
    await source.close()
    assert first.ids() == {p["id"] for p in posts[:8]}
    assert {p.text for p in first.posts.values()} == {p["text"] for p in posts[:8]}
    for p in posts[8:]:
        simulator.feed.add(p)
    second = RecordingSink(metrics, "src")
    restarted = build(name, make_ctx, simulator)
    await run(restarted, second, clock)
    await restarted.close()
    assert second.ids() == {p["id"] for p in posts[8:]}
    assert first.duplicates() == second.duplicates() == []
    assert restarted.ctx.health.items_last_run == 7


TRANSIENT = [
    "429:1@0",
    "500:1",
    "502:1",
    "timeout:1@2",
    "truncated:1",
    "malformed:1",
    "bad_utf8:1",
    "huge:1@300000",
]


@pytest.mark.parametrize("fault", TRANSIENT)
@pytest.mark.parametrize("name", list(COLLECTORS))
async def test_transient_faults_lose_nothing_and_are_counted(
    name, fault, make_ctx, simulator, sink, metrics, clock
):
    endpoint = COLLECTORS[name][0]
    posts = make_posts(12)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec(f"{endpoint}={fault}")
    source = build(name, make_ctx, simulator, max_body=100_000)
    await run(source, sink, clock, times=3)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.duplicates() == []
    assert errors(metrics, expected_kind(name, fault)) == 1
    assert source.ctx.health.consecutive_failures == 0 and not source.ctx.health.blocked


@pytest.mark.parametrize("fault", ["duplicate", "shuffle", "html_junk"])
@pytest.mark.parametrize("name", list(COLLECTORS))
async def test_item_faults_give_each_post_once_with_clean_text(name, fault, make_ctx, simulator, sink, clock):
    endpoint = COLLECTORS[name][0]
    posts = make_posts(12)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec(f"{endpoint}={fault}")
    source = build(name, make_ctx, simulator)
    await run(source, sink, clock, times=2)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.duplicates() == []
    assert {p.text for p in sink.posts.values()} == {p["text"] for p in posts}


@pytest.mark.parametrize("fault", ["block", "403", "418"])
@pytest.mark.parametrize("name", list(COLLECTORS))
async def test_blocks_mark_the_source_and_back_off(name, fault, make_ctx, simulator, sink, metrics, clock):
    endpoint = COLLECTORS[name][0]
    posts = make_posts(4)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec(f"{endpoint}={fault}")
    source = build(name, make_ctx, simulator, blocked_backoff=600)
    await source.collect(sink)
    assert source.ctx.health.blocked and errors(metrics, "blocked") == 1
    assert metrics.registry.get_sample_value("sentinel_source_blocked", {"source": "src"}) == 1
    clock.advance(timedelta(seconds=30))
    await source.collect(sink)
    assert simulator.requests[endpoint] == 1
    simulator.faults.clear()
    clock.advance(timedelta(hours=2))
    await source.collect(sink)
    await source.close()
    assert not source.ctx.health.blocked
    assert sink.ids() == {p["id"] for p in posts}


async def test_wechat_session_expiry_is_a_block(make_ctx, simulator, sink, metrics):
    simulator.feed.add(make_posts(1)[0])
    simulator.faults.add_spec("wechat=block_ok:1")
    source = build("wechat", make_ctx, simulator)
    await source.collect(sink)
    await source.close()
    assert source.ctx.health.blocked and errors(metrics, "blocked") == 1


async def test_wechat_failure_mid_pass_is_finished_by_the_next_run(make_ctx, simulator, sink, clock):
    posts = make_posts(14)
    for p in posts[:2]:
        simulator.feed.add(p)
    source = build("wechat", make_ctx, simulator, retries=0)
    await run(source, sink, clock)
    for p in posts[2:]:
        simulator.feed.add(p)
    # page 1 succeeds, page 2 fails: the next run must page past page 1 (all seen) to finish
    simulator.faults.add_spec("wechat=500:1~1")
    await run(source, sink, clock)
    assert source.ctx.health.consecutive_failures == 1
    assert len(sink.posts) == 2 + 5
    await run(source, sink, clock)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.duplicates() == []


async def test_rss_unchanged_feed_costs_a_304(make_ctx, simulator, sink, clock):
    for p in make_posts(3):
        simulator.feed.add(p)
    source = build("rss", make_ctx, simulator)
    await run(source, sink, clock, times=2)
    await source.close()
    assert simulator.requests["rss"] == 2
    assert simulator.last_headers["rss"].get("if-none-match", "").startswith('"')
    assert len(sink.posts) == 3 and source.ctx.health.items_last_run == 0


async def test_rss_id_regex_and_platform(make_ctx, simulator, sink):
    post = make_posts(1)[0]
    post["id"] = "p-4951"
    simulator.feed.add(post)
    source = RssSource(
        make_ctx(
            "rss",
            {
                "base_url": simulator.url,
                "url": "/feed/rss",
                "platform": "weibo",
                "id_regex": r"(\d+)$",
                **FAST,
            },
        )
    )
    await source.collect(sink)
    await source.close()
    assert list(sink.posts) == [("weibo", "4951")]


async def test_vendor_mapping_fields(make_ctx, simulator, sink):
    post = make_posts(2)[1]
    simulator.feed.add(post)
    source = build("vendor", make_ctx, simulator)
    await source.collect(sink)
    await source.close()
    got = sink.posts[("weibo", post["id"])]
    assert got.created_at.isoformat() == post["created_at"]
    assert (got.author.id, got.author.followers, got.likes, got.reposts) == ("1000001", 24_690, 1000, 3)


async def test_vendor_api_error_is_a_failed_run(make_ctx, simulator, sink, metrics):
    simulator.feed.add(make_posts(1)[0])
    simulator.faults.add_spec("posts=block_ok:1")  # a body without code=0
    source = build("vendor", make_ctx, simulator)
    await source.collect(sink)
    await source.close()
    assert errors(metrics, "api_error") == 1 and source.ctx.health.consecutive_failures == 1


async def test_bad_records_are_counted_rejections(make_ctx, simulator, sink, metrics):
    for p in make_posts(3):
        simulator.feed.add(p)
    fields = dict(VENDOR_FIELDS, created_at="user.nick")  # not a time: every record is rejected
    source = JsonFeedSource(
        make_ctx("jsonfeed", {**COLLECTORS["vendor"][2](simulator.url), **FAST, "fields": fields})
    )
    await source.collect(sink)
    await source.close()
    assert sink.rejects["bad_timestamp"] == 3
    assert (
        metrics.registry.get_sample_value(
            "sentinel_posts_rejected_total", {"source": "src", "reason": "bad_timestamp"}
        )
        == 3
    )


@pytest.mark.parametrize(
    ("cls", "type_", "options", "key"),
    [
        (RssSource, "rss", {}, "url"),
        (RssSource, "rss", {"url": "/x", "id_regex": "("}, "id_regex"),
        (RssSource, "rss", {"url": "/x", "max_pages": 0}, "max_pages"),
        (WechatSource, "wechat", {"count": 50}, "count"),
        (JsonFeedSource, "jsonfeed", {"url": "/x", "platform": "p", "fields": {"id": "a"}}, "fields"),
        (
            JsonFeedSource,
            "jsonfeed",
            {
                "url": "/x",
                "platform": "p",
                "fields": {"id": "a", "text": "b", "created_at": "c", "bogus": "d"},
            },
            "fields",
        ),
        (
            JsonFeedSource,
            "jsonfeed",
            {"url": "/x", "platform": "p", "fields": VENDOR_FIELDS, "timezone": "CST"},
            "timezone",
        ),
    ],
)
def test_options_errors_name_the_key(make_ctx, cls, type_, options, key):
    with pytest.raises(ValueError, match=key):
        cls(make_ctx(type_, options))


def test_registry_points_at_these_classes() -> None:
    import importlib

    from sentinel.sources.mqtt import MqttSource
    from sentinel.sources.weibo import WeiboSource

    expected = {
        "weibo": WeiboSource,
        "wechat": WechatSource,
        "rss": RssSource,
        "jsonfeed": JsonFeedSource,
        "mqtt": MqttSource,
    }
    for type_, cls in expected.items():
        module, _, attr = SOURCE_TYPES[type_].partition(":")
        assert getattr(importlib.import_module(module), attr) is cls


def test_metrics_are_per_test(metrics: Metrics) -> None:
    assert errors(metrics, "blocked") == 0
