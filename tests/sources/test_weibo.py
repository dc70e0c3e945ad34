"""WeiboSource against the simulator: every fault, restarts, blocks, long texts."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from sentinel.clock import ManualClock
from sentinel.obs.metrics import Metrics
from sentinel.simulate.server import SimulatorServer
from sentinel.sources.base import SourceContext
from sentinel.sources.weibo import WeiboSource
from sentinel.store.sql import SqlStore

from .conftest import FAST, RecordingSink, errors, make_posts


def weibo(make_ctx: Callable[..., SourceContext], srv: SimulatorServer, **options: Any) -> WeiboSource:
    opts = {"base_url": srv.url, "keywords": ["艾克美"], **FAST, **options}
    return WeiboSource(make_ctx("weibo", opts))


async def test_collects_every_post_once_with_originals_and_clean_text(make_ctx, simulator, sink):
    posts = make_posts(25, long_every=7, repost_every=5)
    for p in posts:
        simulator.feed.add(p)
    source = weibo(make_ctx, simulator)
    try:
        await source.collect(sink)
    finally:
        await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.duplicates() == []
    first = sink.posts[("weibo", posts[1]["id"])]
    assert first.text == "第1条：艾克美的产品[怒] #艾克美# 太差了"
    assert first.likes == 1000 and first.author.followers == 24_690 and first.author.id == "1000001"
    assert (
        first.created_at == posts[1]["created_at"] or first.created_at.isoformat() == posts[1]["created_at"]
    )
    long_post = sink.posts[("weibo", posts[6]["id"])]
    assert long_post.text == posts[6]["text"]  # fetched through statuses/extend
    assert sink.posts[("weibo", posts[5]["id"])].repost_of == posts[0]["id"]
    assert source.ctx.health.items_last_run == 25 and source.ctx.health.consecutive_failures == 0
    assert simulator.requests["extend"] == 3


async def test_restart_resumes_from_cursor_without_gap_or_duplicate(make_ctx, simulator, metrics, store):
    posts = make_posts(30)
    for p in posts[:12]:
        simulator.feed.add(p)
    first = RecordingSink(metrics, "src")
    source = weibo(make_ctx, simulator)
    await source.collect(first)
    await source.close()
    assert first.ids() == {p["id"] for p in posts[:12]}
    for p in posts[12:]:
        simulator.feed.add(p)
    second = RecordingSink(metrics, "src")
    restarted = weibo(make_ctx, simulator)  # a new process: nothing in memory, only the stored cursor
    await restarted.collect(second)
    await restarted.close()
    assert second.ids() == {p["id"] for p in posts[12:]}
    assert second.duplicates() == []
    cursor = json.loads(await store.get_cursor("src") or "{}")["k:艾克美"]
    assert set(cursor["ids"]) == {p["id"] for p in posts}
    assert cursor["mark"] == datetime.fromisoformat(posts[-1]["created_at"]).timestamp()
    # 18 new posts fit on 2 pages of 10; the third page is where the cursor is met
    assert simulator.requests["search"] == 2 + 3


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("429:1@0", "http_429"),
        ("500:1", "http_5xx"),
        ("502:2", "http_5xx"),
        ("timeout:1@2", "timeout"),
        ("truncated:1", "bad_json"),
        ("malformed:1", "bad_json"),
        ("bad_utf8:1", "bad_encoding"),
    ],
)
async def test_transient_faults_are_retried_counted_and_lose_nothing(
    make_ctx, simulator, sink, metrics, fault, kind
):
    posts = make_posts(15)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec(f"search={fault}")
    source = weibo(make_ctx, simulator)
    await source.collect(sink)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.duplicates() == []
    times = int(fault.split(":")[1].split("@")[0])
    assert errors(metrics, kind) == times
    assert source.ctx.health.consecutive_failures == 0 and source.ctx.health.last_success is not None


async def test_retry_after_is_honoured(make_ctx, simulator, sink):
    simulator.feed.add(make_posts(1)[0])
    simulator.faults.add_spec("search=429:1@1")
    source = weibo(make_ctx, simulator)
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    source.fetcher.sleep = record_sleep
    await source.collect(sink)
    await source.close()
    assert slept and slept[0] >= 1.0
    assert len(sink.posts) == 1


async def test_persistent_failure_keeps_cursor_and_recovers_without_loss(
    make_ctx, simulator, metrics, clock: ManualClock, store: SqlStore
):
    posts = make_posts(12)
    for p in posts[:5]:
        simulator.feed.add(p)
    sink = RecordingSink(metrics, "src")
    source = weibo(make_ctx, simulator, retries=1, fail_backoff=30)
    await source.collect(sink)
    cursor_before = await store.get_cursor("src")
    for p in posts[5:]:
        simulator.feed.add(p)
    simulator.faults.add_spec("search=500")
    await source.collect(sink)
    health = source.ctx.health
    assert health.consecutive_failures == 1 and not health.blocked
    assert health.last_error and health.last_error.startswith("http_5xx")
    assert errors(metrics, "http_5xx") == 2  # the first attempt and its retry
    assert await store.get_cursor("src") == cursor_before
    simulator.faults.clear()
    await source.collect(sink)  # the run gate holds further runs back for a while
    assert simulator.requests["search"] == 1 + 2
    clock.advance(timedelta(seconds=60))
    await source.collect(sink)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.duplicates() == []
    assert health.consecutive_failures == 0
    assert metrics.registry.get_sample_value("sentinel_source_consecutive_failures", {"source": "src"}) == 0


@pytest.mark.parametrize("fault", ["block", "block_ok", "403", "418"])
async def test_blocked_source_is_marked_backs_off_and_recovers(
    make_ctx, simulator, sink, metrics, clock: ManualClock, fault
):
    posts = make_posts(3)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec(f"search={fault}")
    source = weibo(make_ctx, simulator, blocked_backoff=600)
    await source.collect(sink)
    assert source.ctx.health.blocked
    assert metrics.registry.get_sample_value("sentinel_source_blocked", {"source": "src"}) == 1
    assert errors(metrics, "blocked") == 1
    assert simulator.requests["search"] == 1  # no retries against a block
    clock.advance(timedelta(seconds=60))
    await source.collect(sink)
    assert simulator.requests["search"] == 1  # still backing off
    simulator.faults.clear()
    clock.advance(timedelta(seconds=900))
    await source.collect(sink)
    await source.close()
    assert not source.ctx.health.blocked
    assert sink.ids() == {p["id"] for p in posts}


async def test_duplicates_and_shuffled_pages_yield_each_post_once(make_ctx, simulator, sink):
    posts = make_posts(35)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec("search=duplicate")
    simulator.faults.add_spec("search=shuffle")
    source = weibo(make_ctx, simulator)
    await source.collect(sink)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.duplicates() == []


async def test_html_junk_is_cleaned(make_ctx, simulator, sink):
    posts = make_posts(4)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec("search=html_junk")
    source = weibo(make_ctx, simulator)
    await source.collect(sink)
    await source.close()
    assert {p.text for p in sink.posts.values()} == {p["text"] for p in posts}


async def test_huge_page_over_the_cap_fails_the_run_and_under_it_passes(make_ctx, simulator, sink, metrics):
    posts = make_posts(3)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec("search=huge:1@300000")
    source = weibo(make_ctx, simulator, max_body=100_000)
    await source.collect(sink)
    assert errors(metrics, "too_large") == 1 and source.ctx.health.consecutive_failures == 1
    assert not sink.posts
    await source.close()
    simulator.faults.add_spec("search=huge:1@300000")
    roomy = weibo(make_ctx, simulator, max_body=1_000_000)
    await roomy.collect(sink)
    await roomy.close()
    assert sink.ids() == {p["id"] for p in posts}


async def test_user_timeline_mixed_formats_and_cookie(make_ctx, simulator, sink, clock):
    simulator.style = "mixed"
    posts = make_posts(6, start=clock.now() - timedelta(minutes=30), author="2000002")
    posts[0]["created_at"] = (clock.now() - timedelta(days=3)).isoformat()
    posts[0]["likes"] = 1_234_567
    for p in posts:
        simulator.feed.add(p)
    source = WeiboSource(
        make_ctx("weibo", {"base_url": simulator.url, "users": ["2000002"], "cookie": "SUB=secret", **FAST})
    )
    await source.collect(sink)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert simulator.last_headers["timeline"]["cookie"] == "SUB=secret"
    assert "secret" not in repr(source.options)
    oldest = sink.posts[("weibo", posts[0]["id"])]
    assert oldest.likes == 1_230_000  # served as "123万": Weibo's own rounding loses the rest
    assert oldest.created_at.date() == (clock.now() - timedelta(days=3)).date()
    newest = sink.posts[("weibo", posts[-1]["id"])]
    assert abs((newest.created_at - clock.now()).total_seconds() + 25 * 60) <= 60


async def test_page_cap_is_counted(make_ctx, simulator, sink, metrics):
    posts = make_posts(5)
    for p in posts[:1]:
        simulator.feed.add(p)
    source = weibo(make_ctx, simulator, max_pages=1)
    await source.collect(sink)
    for p in make_posts(40)[5:]:
        simulator.feed.add(p)
    await source.collect(sink)
    await source.close()
    assert errors(metrics, "page_cap") == 1


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "keywords"),
        ({"keywords": ["a"], "users": ["abc"]}, "users"),
        ({"keywords": ["a"], "rate": -1}, "rate"),
        ({"keywords": ["a"], "bogus": 1}, "bogus"),
    ],
)
def test_options_errors_name_the_key(make_ctx, options, key):
    with pytest.raises(ValueError, match=key):
        WeiboSource(make_ctx("weibo", options))


def test_metrics_fixture_is_fresh(metrics: Metrics) -> None:
    assert errors(metrics, "timeout") == 0


async def test_ids_out_of_time_order_and_late_arrivals_are_not_lost(make_ctx, simulator, sink, clock):
    """Mids from different servers interleave: a later post may carry a slightly smaller id."""
    posts = make_posts(40)
    ids = [p["id"] for p in posts]
    for i in range(0, 38, 3):  # swap ids pairwise: time order and id order disagree
        posts[i]["id"], posts[i + 1]["id"] = ids[i + 1], ids[i]
    source = weibo(make_ctx, simulator)
    for chunk in range(4):
        for p in posts[chunk * 10 : chunk * 10 + 10]:
            simulator.feed.add(p)
        await source.collect(sink)
    await source.close()
    assert sink.ids() == set(ids)
    assert sink.duplicates() == []


async def test_timeline_pages_by_since_id(make_ctx, simulator, sink):
    posts = make_posts(25, author="3000003")
    for p in posts:
        simulator.feed.add(p)
    source = WeiboSource(make_ctx("weibo", {"base_url": simulator.url, "users": ["3000003"], **FAST}))
    await source.collect(sink)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    assert simulator.requests["timeline"] == 3


async def test_long_text_failure_keeps_the_short_text_and_counts_it(make_ctx, simulator, sink, metrics):
    posts = make_posts(3, long_every=1)
    for p in posts:
        simulator.feed.add(p)
    simulator.faults.add_spec("extend=502")
    source = weibo(make_ctx, simulator, retries=0)
    await source.collect(sink)
    await source.close()
    assert sink.ids() == {p["id"] for p in posts}
    for post in sink.posts.values():
        assert post.extra.get("truncated") is True and len(post.text) < len(posts[0]["text"])
    assert errors(metrics, "http_5xx") == 3 and source.ctx.health.consecutive_failures == 0


async def test_long_text_block_blocks_the_run(make_ctx, simulator, sink):
    for p in make_posts(2, long_every=1):
        simulator.feed.add(p)
    simulator.faults.add_spec("extend=block")
    source = weibo(make_ctx, simulator)
    await source.collect(sink)
    await source.close()
    assert source.ctx.health.blocked


async def test_counters_that_moved_are_handed_on_again(make_ctx, simulator, sink, clock):
    posts = make_posts(3)
    for p in posts:
        simulator.feed.add(p)
    source = weibo(make_ctx, simulator)
    await source.collect(sink)
    simulator.feed.add(dict(posts[2], reposts=9_999))  # the newest post starts to spread
    await source.collect(sink)
    await source.close()
    assert (
        sink.puts[("weibo", posts[2]["id"])] == 2 and sink.posts[("weibo", posts[2]["id"])].reposts == 9_999
    )
    assert sink.puts[("weibo", posts[1]["id"])] == 1
