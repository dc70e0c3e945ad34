"""The alert API over the real WebServer (uvicorn) on 127.0.0.1: tokens, reads, writes, audit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

from sentinel.alerting.api import ApiTokens, register_routes
from sentinel.clock import ManualClock
from sentinel.obs.metrics import Metrics
from sentinel.store import SqlStore
from sentinel.web.server import WebServer

READ, WRITE = "read-token-123", "write-token-456"


async def _ready() -> dict[str, bool]:
    return {"store": True}


@pytest.fixture
async def client(filled: SqlStore, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    server = WebServer("127.0.0.1", 0, Metrics(CollectorRegistry()), readiness=_ready)
    register_routes(server, filled, clock, ApiTokens(read=READ, write=WRITE))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as c:
            yield c
    finally:
        await server.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_no_access(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/alerts"),
        ("GET", "/api/v1/alerts/1"),
        ("POST", "/api/v1/alerts/1/ack"),
        ("GET", "/api/v1/nothing-here"),
    ]:
        r = await client.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.headers["www-authenticate"].startswith("Bearer")
    for bad in ("Bearer wrong", f"Basic {READ}", f"Bearer {READ}x", "Bearer"):
        r = await client.get("/api/v1/alerts", headers={"Authorization": bad})
        assert r.status_code == 401, bad
    # the rest of the server is not behind the token
    assert (await client.get("/healthz")).status_code == 200


async def test_read_token_reads_but_cannot_write(client: httpx.AsyncClient, filled: SqlStore) -> None:
    r = await client.get("/api/v1/alerts", headers=auth(READ))
    assert r.status_code == 200
    [alert] = r.json()["alerts"]
    assert (alert["watch"], alert["acked_by"], alert["status"]) == ("acme", "wang.li", "resolved")
    r = await client.get("/api/v1/alerts/1", headers=auth(READ))
    assert [e["event"] for e in r.json()["events"]] == ["opened", "escalated", "deescalated", "resolved"]
    for path, body in [
        ("/api/v1/alerts/1/ack", {"by": "x"}),
        ("/api/v1/alerts/1/resolve", {}),
        ("/api/v1/silences", {"watch": "acme", "for": "1h"}),
        ("/api/v1/responses", {"watch": "acme", "kind": "statement"}),
    ]:
        r = await client.post(path, json=body, headers=auth(READ))
        assert r.status_code == 403, path
    audit = (await client.get("/api/v1/audit", headers=auth(READ))).json()["audit"]
    assert [e["action"] for e in audit] == ["response.add", "alert.ack"]  # nothing new from the refusals


async def test_write_token_acks_silences_and_records_responses(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/alerts/1/ack", json={"by": "zhao.lei", "note": "接手"}, headers=auth(WRITE)
    )
    assert r.status_code == 200
    assert r.json()["alert"]["acked_by"] == "zhao.lei (api)"
    r = await client.post("/api/v1/alerts/1/resolve", json={"by": "zhao.lei"}, headers=auth(WRITE))
    assert r.status_code == 409  # already resolved by the engine
    r = await client.post("/api/v1/alerts/77/ack", json={"by": "zhao.lei"}, headers=auth(WRITE))
    assert r.status_code == 404
    r = await client.post(
        "/api/v1/silences",
        json={"watch": "acme", "for": "2h", "reason": "发布会", "by": "ops"},
        headers=auth(WRITE),
    )
    assert r.status_code == 200 and r.json()["silence"]["created_by"] == "ops (api)"
    r = await client.get("/api/v1/silences?active=1", headers=auth(READ))
    assert len(r.json()["silences"]) == 1
    r = await client.post(
        "/api/v1/responses",
        headers=auth(WRITE),
        json={
            "watch": "acme",
            "kind": "clarification",
            "at": "2026-11-28T18:00:00+08:00",
            "note": "澄清",
            "by": "pr",
        },
    )
    assert r.status_code == 200 and r.json()["response"]["kind"] == "clarification"
    r = await client.post("/api/v1/responses", headers=auth(WRITE), json={"watch": "acme", "kind": "bribe"})
    assert r.status_code == 400 and "kind" in r.json()["error"]
    r = await client.post("/api/v1/silences", headers=auth(WRITE), content=b"not json")
    assert r.status_code == 400
    r = await client.post("/api/v1/silences", headers=auth(WRITE), content=b"[" * 200_000)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    kinds = [
        x["kind"]
        for x in (await client.get("/api/v1/responses?watch=acme", headers=auth(READ))).json()["responses"]
    ]
    assert kinds == ["apology", "clarification"]
    audit = (await client.get("/api/v1/audit?limit=3", headers=auth(READ))).json()["audit"]
    assert [e["action"] for e in audit] == ["response.add", "silence.create", "alert.ack"]


async def test_api_is_closed_without_configured_tokens(filled: SqlStore, clock: ManualClock) -> None:
    server = WebServer("127.0.0.1", 0, Metrics(CollectorRegistry()), readiness=_ready)
    register_routes(server, filled, clock, ApiTokens())
    async with server, httpx.AsyncClient(base_url=server.url, timeout=5) as c:
        assert (await c.get("/api/v1/alerts", headers=auth("anything"))).status_code == 401
        assert (await c.get("/api/v1/alerts", headers={"Authorization": "Bearer None"})).status_code == 401


def test_tokens_are_not_printed() -> None:
    tokens = ApiTokens(read=READ, write=WRITE)
    assert READ not in repr(tokens) and WRITE not in repr(tokens)
    assert ApiTokens.from_options({"token": "a", "write_token": "b"}).access("b") == "write"
    assert tokens.access(READ) == "read" and tokens.access(None) is None
    assert ApiTokens.from_config(object()) == ApiTokens()  # no [api] section: the API stays closed
