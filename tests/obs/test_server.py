"""The HTTP server, exercised over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sentinel.obs import server as server_module
from sentinel.obs.metrics import Metrics
from sentinel.obs.server import HttpServer, Request, Response


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
async def server(metrics: Metrics, checks: Checks) -> AsyncIterator[HttpServer]:
    srv = HttpServer("127.0.0.1", 0, metrics, readiness=checks, head_timeout=0.5, max_body_bytes=1024)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def client(server: HttpServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as c:
        yield c


async def raw(server: HttpServer, data: bytes) -> bytes:
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
    assert set(server_module.__all__) == {"Handler", "HttpServer", "Request", "Response"}


async def test_binds_a_free_port(server: HttpServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


async def test_metrics_text_format(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
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
    assert r.headers["connection"] == "close"


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
    async with HttpServer("127.0.0.1", 0, metrics, readiness=checks, readiness_timeout=0.2) as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=5) as c:
            r = await c.get("/readyz")
            assert (r.status_code, r.json()) == (503, {"error": "readiness check timed out"})
            assert (await c.get("/healthz")).status_code == 200


async def test_head_has_no_body(client: httpx.AsyncClient) -> None:
    r = await client.head("/healthz")
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) > 0


async def test_unknown_path_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nope")).status_code == 404
    r = await client.post("/metrics", content=b"x")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"


async def test_custom_routes(server: HttpServer, client: httpx.AsyncClient) -> None:
    seen: list[Request] = []

    async def alerts(request: Request) -> Response:
        seen.append(request)
        return Response(201, {"path": request.path, "query": request.query, "got": request.json()})

    async def one(request: Request) -> Response:
        return Response(200, b"\x00\x01", {"Content-Type": "application/x-test", "X-Id": "7"})

    server.add_route("POST", "/api/alerts", alerts)
    server.add_route("GET", "/api/alerts/1", one)
    r = await client.post(
        "/api/alerts/ack?by=%E5%BC%A0%E4%B8%89&x=1",
        json={"note": "已处理"},
        headers={"Authorization": "Bearer t0k"},
    )
    assert r.status_code == 201
    assert r.json() == {
        "path": "/api/alerts/ack",
        "query": {"by": "张三", "x": "1"},
        "got": {"note": "已处理"},
    }
    assert seen[0].headers["authorization"] == "Bearer t0k"
    assert seen[0].method == "POST"
    # longest prefix wins, custom headers and bytes bodies go through
    r = await client.get("/api/alerts/1")
    assert (r.status_code, r.content, r.headers["content-type"], r.headers["x-id"]) == (
        200,
        b"\x00\x01",
        "application/x-test",
        "7",
    )
    # a prefix matches on segment boundaries only; a known path with another method is a 405
    assert (await client.post("/api/alertsX")).status_code == 404
    r = await client.delete("/api/alerts/2")
    assert (r.status_code, r.headers["allow"]) == (405, "POST")


async def test_handler_errors_are_500_and_the_server_lives(
    server: HttpServer, client: httpx.AsyncClient
) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("bug")

    async def wrong_type(request: Request) -> Response:
        return "not a response"  # type: ignore[return-value]

    server.add_route("GET", "/broken", broken)
    server.add_route("GET", "/wrong", wrong_type)
    assert (await client.get("/broken")).status_code == 500
    assert (await client.get("/wrong")).status_code == 500
    assert (await client.get("/healthz")).status_code == 200


def test_add_route_validates() -> None:
    srv = HttpServer("127.0.0.1", 0, Metrics(CollectorRegistry()), readiness=Checks())

    async def h(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="method"):
        srv.add_route("BREW", "/x", h)
    with pytest.raises(ValueError, match="start with"):
        srv.add_route("GET", "x", h)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"garbage\r\n\r\n", 400),
        (b"GET /healthz\r\n\r\n", 400),
        (b"GET /healthz SPDY/3\r\n\r\n", 400),
        (b"get /healthz HTTP/1.1\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"GET /healthz HTTP/1.1\r\n" + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431),
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.0\r\n\r\n", 200),
        (b"\r\nGET /healthz HTTP/1.1\nHost: x\n\n", 200),
        (b"GET http://example/healthz?x=1 HTTP/1.1\r\n\r\n", 200),
    ],
)
async def test_junk_requests(server: HttpServer, data: bytes, expected: int) -> None:
    response = await raw(server, data)
    assert status_of(response) == expected
    # and the daemon still answers
    assert status_of(await raw(server, b"GET /healthz HTTP/1.1\r\n\r\n")) == 200


async def test_slowloris_is_cut_off(server: HttpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nX-a: ")
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 5)  # head_timeout is 0.5s
    writer.close()
    await writer.wait_closed()
    assert status_of(response) == 408


async def test_body_shorter_than_declared(server: HttpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    writer.write_eof()
    response = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    assert status_of(response) == 400


async def test_client_that_disconnects_early(server: HttpServer) -> None:
    for data in (b"", b"GET /hea"):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(data)
        writer.close()
        await writer.wait_closed()
    assert status_of(await raw(server, b"GET /healthz HTTP/1.1\r\n\r\n")) == 200


async def test_many_concurrent_requests(metrics: Metrics, checks: Checks) -> None:
    # the default head timeout: the shared fixture's 0.5 s (for the slowloris test) is shorter
    # than 50 connections can take to be read on a loaded CI machine
    async with (
        HttpServer("127.0.0.1", 0, metrics, readiness=checks) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as client,
    ):
        responses = await asyncio.gather(*(client.get("/healthz") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}


async def test_too_many_connections_get_503(metrics: Metrics, checks: Checks) -> None:
    srv = HttpServer("127.0.0.1", 0, metrics, readiness=checks, max_connections=2, head_timeout=2)
    await srv.start()
    try:
        idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert status_of(await raw(srv, b"GET /healthz HTTP/1.1\r\n\r\n")) == 503
        for _, w in idle:
            w.close()
            await w.wait_closed()
    finally:
        await srv.stop()


async def test_stop_closes_idle_connections_and_the_port(metrics: Metrics, checks: Checks) -> None:
    srv = HttpServer("127.0.0.1", 0, metrics, readiness=checks, head_timeout=30)
    await srv.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /heal")
    await writer.drain()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(srv.stop(), 5)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await writer.wait_closed()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", srv.port)
    await srv.stop()  # idempotent


async def test_context_manager(metrics: Metrics, checks: Checks) -> None:
    async with HttpServer("127.0.0.1", 0, metrics, readiness=checks) as srv:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"{srv.url}/healthz")
    assert json.loads(r.content) == {"status": "ok"}
