"""A real SQLite store with one open crisis alert (its samples hostile), two users, and the
daemon's web server (FastAPI on uvicorn) with the console, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from sentinel.alerting.manage import AlertManager
from sentinel.clock import ManualClock
from sentinel.config import Config, config_from_dict
from sentinel.obs.metrics import Metrics
from sentinel.post import Author, Post, ScoredPost
from sentinel.risk.base import AlertEvent
from sentinel.store import SqlStore
from sentinel.store.alerts import Audit
from sentinel.web.auth import hash_password
from sentinel.web.console import Console
from sentinel.web.server import WebServer

T0 = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
PASSWORDS = {"li.viewer": "viewer-pass-1", "wang.responder": "responder-pass-1"}
BIDI = "\u202e"
HOSTILE = [
    {"id": "h1", "text": "<script>alert('x')</script>艾克美", "author": "坏人", "followers": 10, "negative": 0.9},
    {"id": "h2", "text": '<img src=x onerror="alert(1)" id="injected">异物', "author": "<b>b</b>",
     "followers": 20, "negative": 0.9, "url": "javascript:alert(1)"},
    {"id": "h3", "text": f"看这里 {BIDI}gnp.exe javascript:alert(2)", "author": f"x{BIDI}y", "followers": 30,
     "negative": 0.8},
    {"id": "kol", "text": "我去看看这家店怎么样", "author": "大V博主", "followers": 2_000_000, "negative": 0.1,
     "url": "https://m.weibo.cn/detail/kol"},
]  # fmt: skip


@dataclass
class Site:
    url: str
    server: WebServer
    store: SqlStore
    clock: ManualClock
    console: Console
    config: Config

    async def login(self, client: httpx.AsyncClient, name: str) -> str:
        """Sign ``name`` in; returns the session's CSRF token (read from a page's form)."""
        r = await sign_in(client, name, PASSWORDS[name])
        assert r.status_code == 303, r.text
        page = (await client.get("/alerts/1")).text
        marker = 'name="csrf" value="'
        return page[page.index(marker) + len(marker) :].split('"', 1)[0]


def _post(pid: str, text: str, author: str, followers: int, repost_of: str | None, minute: int) -> ScoredPost:
    post = Post(
        platform="weibo", id=pid, text=text, created_at=T0 + timedelta(minutes=minute),
        author=Author(id=f"u-{pid}", name=author, followers=followers), repost_of=repost_of,
    )  # fmt: skip
    return ScoredPost(post, 0.9, "negative", {})


def form_token(page: str) -> str:
    marker = 'name="csrf" value="'
    return page[page.index(marker) + len(marker) :].split('"', 1)[0]


async def sign_in(client: httpx.AsyncClient, name: str, password: str, **more: str) -> httpx.Response:
    """What a browser does: fetch the form (its token and cookie), then post it."""
    token = form_token((await client.get("/login")).text)
    return await client.post("/login", data={"username": name, "password": password, "csrf": token, **more})


async def make_store(db: Path) -> tuple[SqlStore, ManualClock]:
    store = SqlStore(config_from_dict({"storage": {"url": f"sqlite:///{db}"}}).storage)
    await store.open()
    clock = ManualClock(T0)
    events = [
        AlertEvent(
            "opened", "acme", "yellow", 55, T0, posts=["h1"], samples=HOSTILE,
            factors={
                "volume": {"value": 30, "baseline": 2, "strength": 0.9, "contribution": 20},
                "negative_share": {"value": 0.7, "baseline": 0.2, "strength": 0.8, "contribution": 15},
                "stories": [{"id": "h1", "size": 41, "text": "<script>alert('s')</script>故事"}],
            },
        ),
        AlertEvent("escalated", "acme", "red", 85, T0 + timedelta(hours=1), previous_level="yellow",
                   samples=HOSTILE, factors={"kol": {"value": 1, "contribution": 10}}),
    ]  # fmt: skip
    await store.save_events(await AlertManager(store, clock).annotate(events), lambda ev: [])
    # the top story's posts: the original, a repost of it, and a repost of that repost
    story = [
        _post("h1", "艾克美牛奶有异物", "源头博主", 500_000, None, 0),
        _post("r1", "//@源头博主: 太可怕了", "转发者甲", 3_000, "h1", 5),
        _post("r2", "真的吗//@转发者甲: 太可怕了//@源头博主: 太可怕了", "转发者乙", 20, "h1", 9),
    ]
    await store.write_batch([(p, "test") for p in story], [], model="test", now=T0)
    for name, role in (("li.viewer", "viewer"), ("wang.responder", "responder")):
        await store.add_user(
            name, role, hash_password(PASSWORDS[name]), Audit(T0, "test", "user.add", name, {})
        )
    clock.advance_to(T0 + timedelta(hours=2))
    return store, clock


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    store, clock = await make_store(tmp_path / "sentinel.db")
    config = config_from_dict(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'sentinel.db'}"},
            "watch": [{"name": "acme", "query": "艾克美"}, {"name": "rival", "query": "对手"}],
            "web": {"login_attempts": 3},
        }
    )
    server = WebServer("127.0.0.1", 0, Metrics(CollectorRegistry()), readiness=_ready)
    console = Console(store, clock, config, server.metrics, stopping=server.stopping, sse_interval=0.2)
    console.mount(server.fastapi)
    await server.start()
    try:
        yield Site(server.url, server, store, clock, console, config)
    finally:
        await server.stop()
        await store.close()


async def _ready() -> dict[str, bool]:
    return {"store": True}


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.url, timeout=10) as c:
        yield c
