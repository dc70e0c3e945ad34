"""The console over real HTTP (httpx against uvicorn on 127.0.0.1), on a real SQLite store."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import BIDI, PASSWORDS, Site, form_token, sign_in


async def test_pages_need_a_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/", "/alerts", "/alerts/1", "/review", "/events", "/api/console/overview"):
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    r = await client.post("/alerts/1/ack", data={"csrf": "x"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = await client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_sign_in_sets_a_safe_cookie_and_signs_out(site: Site, client: httpx.AsyncClient) -> None:
    r = await sign_in(client, "li.viewer", PASSWORDS["li.viewer"])
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and PASSWORDS["li.viewer"] not in cookie
    overview = await client.get("/")
    assert overview.status_code == 200 and "li.viewer" in overview.text and "总览" in overview.text
    # an open redirect is refused
    r = await sign_in(client, "li.viewer", PASSWORDS["li.viewer"], next="//evil.example/x")
    assert r.headers["location"] == "/"
    csrf = await site.login(client, "li.viewer")
    assert (await client.post("/logout", data={"csrf": csrf})).status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_sign_in_needs_the_forms_own_token(site: Site, client: httpx.AsyncClient) -> None:
    good = {"username": "li.viewer", "password": PASSWORDS["li.viewer"]}
    assert (await client.post("/login", data=good)).status_code == 403  # no form fetched: no cookie
    refused = await client.post("/login", data={**good, "csrf": "forged"})
    assert refused.status_code == 403
    token = form_token(refused.text)  # the refusal is a fresh form
    async with httpx.AsyncClient(base_url=site.url) as other:  # a token from another browser
        assert (await other.post("/login", data={**good, "csrf": token})).status_code == 403
    assert (await client.post("/login", data={**good, "csrf": token})).status_code == 303


async def test_wrong_passwords_are_limited(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        r = await sign_in(client, "li.viewer", "wrong-password")
        assert r.status_code == 401 and "错误" in r.text
    r = await sign_in(client, "li.viewer", PASSWORDS["li.viewer"])
    assert r.status_code == 429  # even the right password waits for the window
    r = await sign_in(client, "nobody", "whatever-1")
    assert r.status_code == 429  # the same address is limited too


async def test_a_viewer_sees_everything_and_changes_nothing(site: Site, client: httpx.AsyncClient) -> None:
    csrf = await site.login(client, "li.viewer")
    for path in ("/", "/alerts", "/alerts/1", "/alerts?status=open&level=red&watch=acme", "/review"):
        assert (await client.get(path)).status_code == 200, path
    for action, data in (
        ("ack", {}),
        ("resolve", {}),
        ("assign", {"owner": "x"}),
        ("silence", {"for": "1h"}),
    ):
        r = await client.post(f"/alerts/1/{action}", data={"csrf": csrf, **data})
        assert r.status_code == 403, action
    assert [e.action for e in await site.store.audit_trail(target="alert:1")] == []
    assert (await site.store.get_alert(1)).acked_by is None  # type: ignore[union-attr]


async def test_a_responder_acts_with_csrf(site: Site, client: httpx.AsyncClient) -> None:
    csrf = await site.login(client, "wang.responder")
    r = await client.post("/alerts/1/ack", data={"csrf": "forged", "note": "x"})
    assert r.status_code == 403
    r = await client.post("/alerts/1/ack", data={"note": "x"})
    assert r.status_code == 403
    r = await client.post("/alerts/1/ack", data={"csrf": csrf, "note": "接手处理"})
    assert r.status_code == 303 and r.headers["location"] == "/alerts/1"
    r = await client.post("/alerts/1/assign", data={"csrf": csrf, "owner": "zhao.pr"})
    assert r.status_code == 303
    r = await client.post("/alerts/1/response", data={"csrf": csrf, "kind": "statement", "note": "声明"})
    assert r.status_code == 303
    r = await client.post("/alerts/1/silence", data={"csrf": csrf, "for": "2h", "note": "发布会"})
    assert r.status_code == 303
    assert (await client.post("/alerts/99/ack", data={"csrf": csrf})).status_code == 404
    page = (await client.get("/alerts/1")).text
    assert "已由 wang.responder (web) 确认处理" in page and "zhao.pr" in page
    actions = [e.action for e in await site.store.audit_trail()]
    assert actions[:4] == ["silence.create", "response.add", "alert.assign", "alert.ack"]
    r = await client.post("/alerts/1/resolve", data={"csrf": csrf, "note": "澄清完毕"})
    assert r.status_code == 303 and (await site.store.get_alert(1)).status == "resolved"  # type: ignore[union-attr]
    rows = (await client.get("/alerts?status=resolved")).text
    assert 'data-alert="1"' in rows
    assert 'data-alert="1"' not in (await client.get("/alerts?status=open")).text


async def test_hostile_post_text_is_inert(site: Site, client: httpx.AsyncClient) -> None:
    await site.login(client, "li.viewer")
    page = (await client.get("/alerts/1")).text
    assert "<script>alert" not in page and "<img src=x" not in page and 'id="injected"' not in page
    assert "&lt;script&gt;" in page or "＜script＞" in page
    assert 'href="javascript:' not in page and BIDI not in page
    assert 'href="https://m.weibo.cn/detail/kol"' in page  # a safe link stays a link
    assert "大V博主" in page  # the KOL's neutral post is shown
    assert "是平常的 15.0 倍" in page  # the volume factor explained against its baseline
    tree = page[page.index('class="tree"') :]
    # the repost of the repost hangs under the first repost, which hangs under the original
    assert tree.index("源头博主") < tree.index("转发者甲") < tree.index("转发者乙")
    assert tree.count("<ul>") >= 3


async def test_english_switch(site: Site, client: httpx.AsyncClient) -> None:
    await site.login(client, "li.viewer")
    r = await client.get("/lang/en?next=/alerts")
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    assert "Peak level" in (await client.get("/alerts")).text
    assert "15.0×" in (await client.get("/alerts/1")).text


async def test_overview_data_and_live_events(site: Site, client: httpx.AsyncClient) -> None:
    await site.login(client, "li.viewer")
    data = (await client.get("/api/console/overview")).json()
    acme = next(w for w in data["watches"] if w["watch"] == "acme")
    assert (acme["level"], acme["alert_id"], data["latest_alert"]) == ("red", 1, 1)
    async with client.stream("GET", "/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                assert json.loads(line[6:])["latest_alert"] == 1
                break


async def test_static_echarts_is_served_by_the_daemon(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/vendor/echarts/echarts.min.js")
    assert r.status_code == 200 and len(r.content) > 500_000


@pytest.mark.parametrize("download", [0, 1])
async def test_review_report(site: Site, client: httpx.AsyncClient, download: int) -> None:
    await site.login(client, "li.viewer")
    r = await client.get(
        "/review/report.html",
        params={"watch": "acme", "since": "2026-11-27T00:00:00+00:00", "until": "2026-11-29T00:00:00+00:00",
                "download": download},
    )  # fmt: skip
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert ("attachment" in r.headers.get("content-disposition", "")) == bool(download)
    r = await client.get("/review/report.html", params={"watch": "nope"})
    assert r.status_code == 400


async def test_stopping_ends_open_event_streams_quietly(
    site: Site, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio
    import logging
    import time

    caplog.set_level(logging.INFO)
    await site.login(client, "li.viewer")
    async with client.stream("GET", "/events") as stream:
        lines = stream.aiter_lines()
        while not (await anext(lines)).startswith("data: "):
            pass
        started = time.monotonic()
        await asyncio.wait_for(site.server.stop(), 10)
    assert time.monotonic() - started < 3  # the stream ended with the server, not after a grace period
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
