"""The daemon's HTTP server: ``/metrics``, ``/healthz``, ``/readyz``, the alert API, the console.

A FastAPI app served by uvicorn on the daemon's own event loop (:class:`AsgiService`).
``/metrics`` is prometheus_client's ASGI app on the daemon's registry; ``/readyz`` answers
200 when every named readiness check is true, 503 otherwise, with the checks as JSON (a
check that hangs or raises reads as not ready). Other parts add routers with
:meth:`WebServer.include_router`; the alert API lives under ``/api/v1/`` with its OpenAPI
schema at ``/api/v1/openapi.json`` and its docs page at ``/api/v1/docs`` (Swagger UI, served from
the package: nothing comes from a CDN).

Example::

    server = WebServer("127.0.0.1", 0, Metrics(), readiness=check)
    async with server:
        print(server.url)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import make_asgi_app
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentinel.obs.metrics import Metrics
from sentinel.web.asgi import AsgiService

__all__ = ["Readiness", "WebServer"]

log = logging.getLogger(__name__)

Readiness = Callable[[], Awaitable[dict[str, bool]]]
_SWAGGER = Path(__file__).parent / "static" / "vendor" / "swagger-ui"  # vendored: no CDN at run time


class WebServer(AsgiService):
    """Health, metrics and whatever routers are added, on ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        *,
        readiness: Readiness,
        readiness_timeout: float = 5.0,
        max_body_bytes: int = 1024 * 1024,
        title: str = "sentinel",
    ) -> None:
        self.metrics = metrics
        self._readiness = readiness
        self.readiness_timeout = readiness_timeout
        self.stopping = asyncio.Event()  # long-lived responses (event streams) end when it is set
        self.fastapi = FastAPI(
            title=title,
            openapi_url="/api/v1/openapi.json",
            docs_url=None,  # served below, from the package rather than a CDN
            redoc_url=None,
        )
        self.fastapi.add_exception_handler(HTTPException, _http_error)
        self.fastapi.include_router(self._health_router())
        self.fastapi.mount("/api/v1/docs-assets", StaticFiles(directory=str(_SWAGGER)), name="docs-assets")
        # a Route, not a Mount: "/metrics" itself answers, without a redirect to "/metrics/"
        self.fastapi.router.routes.append(
            Route("/metrics", _Asgi(make_asgi_app(metrics.registry)), methods=["GET", "HEAD"])
        )
        super().__init__(_BodyLimit(self.fastapi, max_body_bytes), host, port)

    def include_router(self, router: APIRouter) -> None:
        self.fastapi.include_router(router)

    async def stop(self) -> None:
        self.stopping.set()
        await super().stop()

    def _health_router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)

        @router.api_route("/healthz", methods=["GET", "HEAD"])
        async def healthz() -> JSONResponse:
            return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

        @router.get("/api/v1/docs")
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url="/api/v1/openapi.json",
                title="sentinel API",
                swagger_js_url="/api/v1/docs-assets/swagger-ui-bundle.js",
                swagger_css_url="/api/v1/docs-assets/swagger-ui.css",
                swagger_favicon_url="data:,",
            )

        @router.api_route("/readyz", methods=["GET", "HEAD"])
        async def readyz() -> JSONResponse:
            return await self._ready()

        return router

    async def _ready(self) -> JSONResponse:
        headers = {"Cache-Control": "no-store"}
        try:
            # probes give up after a few seconds; a hung store must read as "not ready", not as a hang
            async with asyncio.timeout(self.readiness_timeout):
                checks = await self._readiness()
        except TimeoutError:
            log.warning("readiness check timed out after %.1fs", self.readiness_timeout)
            return JSONResponse({"error": "readiness check timed out"}, 503, headers)
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"error": f"readiness check failed: {type(exc).__name__}"}, 503, headers)
        ready = all(bool(v) for v in checks.values())
        return JSONResponse({k: bool(v) for k, v in checks.items()}, 200 if ready else 503, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/") or request.url.path in ("/healthz", "/readyz"):
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
    return Response(str(exc.detail), exc.status_code, headers=exc.headers, media_type="text/plain")


class _BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            status = 400 if not declared.isdigit() else 413
            await JSONResponse({"error": f"body larger than {self.limit} bytes"}, status)(
                scope, receive, send
            )
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, f"body larger than {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


class _Asgi:
    """An ASGI callable that Starlette's ``Route`` mounts as is (a plain function it would wrap)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
