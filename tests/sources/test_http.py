"""The shared machinery: retries, Retry-After, blocks, body cap, redaction, gates, cursors."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import timedelta

import httpx
import pytest

from sentinel.clock import ManualClock
from sentinel.sources.http import (
    FetchError,
    HostRateLimiter,
    HttpFetcher,
    HttpOptions,
    RecentKeys,
    RunGate,
    SeenSet,
    load_cursor,
    redact_url,
    retry_after_seconds,
    save_cursor,
    with_secrets,
)

from .conftest import NOW


def fetcher(handler, clock: ManualClock, **options) -> tuple[HttpFetcher, list[float], list[str]]:
    slept: list[float] = []
    retried: list[str] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    opts = HttpOptions(base_url="http://platform.test", rate=0, **options)
    f = HttpFetcher(
        opts,
        clock=clock,
        on_retry=lambda kind, detail: retried.append(kind),
        sleep=sleep,
        transport=httpx.MockTransport(handler),
        rng=random.Random(1),
    )
    return f, slept, retried


async def test_retries_5xx_then_gives_up_with_the_kind(clock):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503)

    f, slept, retried = fetcher(handler, clock, retries=2, backoff=1, backoff_max=10)
    with pytest.raises(FetchError) as info:
        await f.get("/x")
    await f.close()
    assert info.value.kind == "http_5xx" and len(calls) == 3 and retried == ["http_5xx", "http_5xx"]
    assert 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0  # exponential, with jitter


async def test_retry_after_longer_than_allowed_ends_the_request(clock):
    f, slept, _ = fetcher(
        lambda r: httpx.Response(429, headers={"Retry-After": "600"}), clock, retry_after_max=60
    )
    with pytest.raises(FetchError) as info:
        await f.get("/x")
    await f.close()
    assert info.value.kind == "http_429" and info.value.retry_after == 600 and slept == []
    gate = RunGate(HttpOptions(fail_backoff=1), random.Random(0))
    gate.failed(NOW, retry_after=info.value.retry_after)
    assert not gate.ready(NOW + timedelta(seconds=599)) and gate.ready(NOW + timedelta(seconds=600))


async def test_redirect_to_login_is_a_block_and_secrets_are_redacted(clock):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "platform.test":
            return httpx.Response(302, headers={"Location": "https://passport.platform.test/signin?r=1"})
        return httpx.Response(200, text="<html>login</html>")

    f, _, _ = fetcher(handler, clock)
    with pytest.raises(FetchError) as info:
        await f.get("/api", params={"token": "s3cret", "q": "艾克美"})
    await f.close()
    assert info.value.blocked and info.value.kind == "blocked"
    assert "s3cret" not in str(info.value)
    assert redact_url("http://x/a?token=abc&q=1") == "http://x/a?token=***&q=1"


async def test_body_cap_by_header_and_by_stream(clock):
    f, _, _ = fetcher(lambda r: httpx.Response(200, content=b"x" * 5000), clock, max_body=1024)
    with pytest.raises(FetchError, match="too_large"):
        await f.get("/x")
    await f.close()

    async def stream():
        for _ in range(10):
            yield b"y" * 500

    g, _, _ = fetcher(lambda r: httpx.Response(200, content=stream()), clock, max_body=1024)
    with pytest.raises(FetchError, match="too_large"):
        await g.get("/x")
    await g.close()


async def test_json_decoding_errors_are_classified_and_retried(clock):
    bodies = iter([b"\xff\xfe", b'{"a": ', b'{"a": 1}'])
    f, _, retried = fetcher(lambda r: httpx.Response(200, content=next(bodies)), clock, retries=3)
    result = await f.get_json("/x")
    await f.close()
    assert result is not None and result.data == {"a": 1} and retried == ["bad_encoding", "bad_json"]


async def test_conditional_request_only_after_remember(clock):
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, content=b"{}", headers={"ETag": '"v1"'})

    f, _, _ = fetcher(handler, clock)
    first = await f.get("/feed", conditional=True)
    assert await f.get("/feed", conditional=True) is not None  # not remembered: no validator sent
    f.remember(first)
    assert await f.get("/feed", conditional=True) is None
    await f.close()
    assert seen == [None, None, '"v1"']


def test_retry_after_forms() -> None:
    assert retry_after_seconds("12", NOW) == 12
    assert retry_after_seconds("Sat, 28 Nov 2026 05:01:00 GMT", NOW) == 60
    assert retry_after_seconds("soon", NOW) is None and retry_after_seconds(None, NOW) is None


def test_run_gate_doubles_and_resets() -> None:
    gate = RunGate(HttpOptions(fail_backoff=10, blocked_backoff=100, max_run_backoff=35), random.Random(0))
    pauses = [gate.failed(NOW) for _ in range(4)]
    assert 7.5 <= pauses[0] <= 10 and 15 <= pauses[1] <= 20 and pauses[3] <= 35
    gate.succeeded()
    assert gate.ready(NOW)
    assert gate.failed(NOW, blocked=True) >= 35 * 0.75


async def test_host_rate_limiter_spaces_requests() -> None:
    limiter = HostRateLimiter()
    started = time.monotonic()
    await asyncio.gather(*(limiter.wait("h", 20.0) for _ in range(4)))
    assert time.monotonic() - started >= 0.14
    started = time.monotonic()
    await limiter.wait("other", 20.0)
    assert time.monotonic() - started < 0.05


def test_recent_keys_and_seen_set() -> None:
    recent = RecentKeys(limit=2)
    assert recent.fresh("a", 1)
    recent.remember("a", 1)
    assert not recent.fresh("a", 1) and recent.fresh("a", 2)
    recent.remember("b")
    recent.remember("c")
    assert "a" not in recent and len(recent) == 2

    seen = SeenSet(limit=2)
    for i in range(4):
        assert seen.is_new(str(i), float(i))
        seen.add(str(i), float(i))
    saved = json.loads(json.dumps(seen.to_json()))
    again = SeenSet(saved, limit=2)
    assert set(again.ids) == {"2", "3"} and again.floor == 1.0
    assert not again.is_new("0", 0.0) and not again.is_new("3", 3.0) and again.is_new("9", 1.0)
    assert again.beyond_mark(0.0)  # no complete pass yet
    again.complete()
    assert again.mark == 3.0 and not again.beyond_mark(2.0)


async def test_cursor_round_trip_and_garbage(store) -> None:
    assert await load_cursor(store, "s") == {}
    await save_cursor(store, "s", {"k:艾克美": "5"})
    assert await load_cursor(store, "s") == {"k:艾克美": "5"}
    await store.set_cursor("s", "not json")
    assert await load_cursor(store, "s") == {}


def test_secrets_fill_missing_options(make_ctx) -> None:
    ctx = make_ctx("weibo", {"keywords": ["a"]})
    ctx.secrets = {"cookie": "SUB=1"}
    assert with_secrets(HttpOptions(), ctx).cookie == "SUB=1"
    assert with_secrets(HttpOptions(cookie="mine"), ctx).cookie == "mine"
