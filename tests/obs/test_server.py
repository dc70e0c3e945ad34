"""The daemon's web server (FastAPI on uvicorn), exercised over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sentinel.obs.metrics import Metrics
from sentinel.web import server as server_module
from sentinel.web.server import WebServer


class Checks:
    """A readiness callback whose answer the test sets."""

    def __init__(self) -> None:
        self.state = {"store": True, "bus": True, "sources": True}
        self.error: Exception | None = None
        self.hang = False

    async def __call__(self) -> dict[str, bool]:
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error
        return dict(self.state)


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics(CollectorRegistry())
    m.posts_ingested.labels(platform="weibo", source="weibo-acme").inc(3)
    m.watch_risk.labels(watch="acme").set(72.5)
    return m


@pytest.fixture
def checks() -> Checks:
    return Checks()


@pytest.fixture
async def server(metrics: Metrics, checks: Checks) -> AsyncIterator[WebServer]:
    srv = WebServer("127.0.0.1", 0, metrics, readiness=checks, max_body_bytes=1024)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def client(server: WebServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as c:
        yield c


async def raw(server: WebServer, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(data)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return response


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_public_surface() -> None:
    assert set(server_module.__all__) == {"Readiness", "WebServer"}


async def test_binds_a_free_port(server: WebServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


async def test_a_port_in_use_is_an_os_error(server: WebServer, metrics: Metrics, checks: Checks) -> None:
    with pytest.raises(OSError):
        await WebServer("127.0.0.1", server.port, metrics, readiness=checks).start()


async def test_metrics_text_format(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    ingested = families["sentinel_posts_ingested"].samples
    assert any(s.labels == {"platform": "weibo", "source": "weibo-acme"} and s.value == 3 for s in ingested)
    assert families["sentinel_watch_risk_score"].samples[0].value == 72.5


async def test_metrics_openmetrics_when_asked(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")


async def test_metrics_reflect_updates(client: httpx.AsyncClient, metrics: Metrics) -> None:
    metrics.outbox_dead.set(4)
    r = await client.get("/metrics")
    assert "sentinel_outbox_dead 4.0" in r.text


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert r.headers["cache-control"] == "no-store"


async def test_readyz_ready_and_not(client: httpx.AsyncClient, checks: Checks) -> None:
    r = await client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"store": True, "bus": True, "sources": True})
    checks.state["bus"] = False
    r = await client.get("/readyz")
    assert (r.status_code, r.json()["bus"]) == (503, False)


async def test_readyz_when_the_check_raises(client: httpx.AsyncClient, checks: Checks) -> None:
    checks.error = RuntimeError("db gone")
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert "RuntimeError" in r.json()["error"]


async def test_readyz_when_the_check_hangs(metrics: Metrics, checks: Checks) -> None:
    checks.hang = True
    async with WebServer("127.0.0.1", 0, metrics, readiness=checks, readiness_timeout=0.2) as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=5) as c:
            r = await c.get("/readyz")
            assert (r.status_code, r.json()) == (503, {"error": "readiness check timed out"})
            assert (await c.get("/healthz")).status_code == 200


async def test_head_has_no_body(client: httpx.AsyncClient) -> None:
    r = await client.head("/healthz")
    assert r.status_code == 200
    assert r.content == b""


async def test_unknown_path_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nope")).status_code == 404
    r = await client.post("/metrics", content=b"x")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}


async def test_added_routers(server: WebServer, client: httpx.AsyncClient) -> None:
    router = APIRouter()

    @router.post("/echo")
    async def echo(body: dict[str, int]) -> dict[str, int]:
        return {"n": body["n"] + 1}

    @router.get("/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    server.include_router(router)
    assert (await client.post("/echo", json={"n": 1})).json() == {"n": 2}
    r = await client.post("/echo", content=b"x" * 2000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413  # over max_body_bytes, refused before the app reads it
    assert (await client.get("/broken")).status_code == 500
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"garbage\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.0\r\n\r\n", 200),
    ],
)
async def test_junk_requests(server: WebServer, data: bytes, expected: int) -> None:
    assert status_of(await raw(server, data)) == expected
    # and the daemon still answers
    ok = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert status_of(await raw(server, ok)) == 200


async def test_short_scrapes_and_early_hang_ups_log_no_error(
    server: WebServer, caplog: pytest.LogCaptureFixture
) -> None:
    # the hand-written server logged "Transport endpoint is not connected" with a traceback
    # whenever a scraper closed its connection; a scrape every few seconds must log nothing
    caplog.set_level(logging.DEBUG)
    for i in range(60):
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as c:
            assert (await c.get("/metrics" if i % 2 else "/readyz")).status_code == 200
    for data in (b"", b"GET /hea", b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(data)
        await writer.drain()
        writer.close()  # before reading the answer
        await writer.wait_closed()
    await asyncio.sleep(0.2)
    ok = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert status_of(await raw(server, ok)) == 200
    await server.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]


async def test_many_concurrent_requests(metrics: Metrics, checks: Checks) -> None:
    async with (
        WebServer("127.0.0.1", 0, metrics, readiness=checks) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as client,
    ):
        responses = await asyncio.gather(*(client.get("/healthz") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}


async def test_stop_closes_idle_connections_and_the_port(metrics: Metrics, checks: Checks) -> None:
    srv = WebServer("127.0.0.1", 0, metrics, readiness=checks)
    await srv.start()
    async with httpx.AsyncClient(base_url=srv.url, timeout=5) as c:  # keeps its connection open
        assert (await c.get("/healthz")).status_code == 200
        await asyncio.wait_for(srv.stop(), 5)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", srv.port)
    await srv.stop()  # idempotent


async def test_openapi_schema_and_docs_page(metrics: Metrics, checks: Checks) -> None:
    async with (
        WebServer("127.0.0.1", 0, metrics, readiness=checks) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=5) as c,
    ):
        schema = (await c.get("/api/v1/openapi.json")).json()
        assert schema["info"]["title"] == "sentinel"
        assert "/healthz" not in schema["paths"]
        r = await c.get("/api/v1/docs")
        assert r.status_code == 200 and "openapi.json" in r.text
        assert "cdn" not in r.text.lower() and "https://" not in r.text  # works offline
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert f"/api/v1/docs-assets/{asset}" in r.text
            assert (await c.get(f"/api/v1/docs-assets/{asset}")).status_code == 200


async def test_context_manager(metrics: Metrics, checks: Checks) -> None:
    async with WebServer("127.0.0.1", 0, metrics, readiness=checks) as srv:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"{srv.url}/healthz")
    assert json.loads(r.content) == {"status": "ok"}
