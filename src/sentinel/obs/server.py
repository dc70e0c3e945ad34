"""A small asyncio HTTP/1.1 server for ``/metrics``, ``/healthz``, ``/readyz`` and extra routes.

It exists so that the daemon needs no web framework: Prometheus scrapes it, orchestrators probe
it, and other parts mount small JSON APIs on it with :meth:`HttpServer.add_route`.

Every connection answers one request and closes (``Connection: close``), which Prometheus and
probes handle fine. Junk never reaches the daemon: a bad request line is a 400, an oversized
head a 431, a body over the limit a 413, a client that dribbles bytes (slowloris) a 408, and a
handler that raises a 500 — each logged, none propagated.

Example::

    server = HttpServer("127.0.0.1", 0, Metrics(), readiness=check)
    await server.start()
    print(server.port)          # the bound port; 0 asks the OS for a free one
    ...
    await server.stop()
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from prometheus_client.exposition import choose_encoder

from sentinel.obs.metrics import Metrics

__all__ = ["Handler", "HttpServer", "Request", "Response"]

log = logging.getLogger(__name__)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request. Header names are lower-cased; repeated query keys keep the last value."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` if it is not)."""
        try:
            return json.loads(self.body or b"null")
        except RecursionError:  # nested deeper than the decoder goes: still a bad body
            raise ValueError("JSON nested too deeply") from None


@dataclass(slots=True)
class Response:
    """What a handler returns.

    ``body`` may be ``bytes`` (sent as is), ``str`` (UTF-8 text), ``None`` (empty) or anything
    JSON-able (sent as ``application/json``). ``headers`` override the defaults.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        """The body bytes and their default content type."""
        if self.body is None:
            return b"", "text/plain; charset=utf-8"
        if isinstance(self.body, bytes | bytearray | memoryview):
            return bytes(self.body), "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/plain; charset=utf-8"
        text = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"), default=str)
        return text.encode("utf-8"), "application/json"


Handler = Callable[[Request], Awaitable[Response]]
Readiness = Callable[[], Awaitable[dict[str, bool]]]


class _HttpError(Exception):
    """A request we refuse before any handler sees it."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    prefix: str
    handler: Handler

    def matches(self, path: str) -> bool:
        base = self.prefix.rstrip("/")
        return path == self.prefix or path == base or path.startswith(base + "/")


class HttpServer:
    """Serves metrics and health over HTTP on one asyncio event loop.

    ``readiness`` returns named checks (``{"store": True, "bus": True, "sources": False}``);
    ``/readyz`` answers 200 when all are true, otherwise 503, with the checks as JSON.
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        *,
        readiness: Readiness,
        head_timeout: float = 10.0,
        body_timeout: float = 30.0,
        handler_timeout: float = 30.0,
        readiness_timeout: float = 5.0,
        max_head_bytes: int = 16 * 1024,
        max_headers: int = 100,
        max_body_bytes: int = 1024 * 1024,
        max_connections: int = 256,
    ) -> None:
        self.host = host
        self._port = port
        self.metrics = metrics
        self._readiness = readiness
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.handler_timeout = handler_timeout
        self.readiness_timeout = readiness_timeout
        self.max_head_bytes = max_head_bytes
        self.max_headers = max_headers
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self._routes: list[_Route] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port once started (useful when constructed with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    def add_route(self, method: str, path_prefix: str, handler: Handler) -> None:
        """Mount ``handler`` for ``method`` on ``path_prefix`` and everything below it.

        The longest matching prefix wins; a path that matches only with another method is a 405.
        """
        method = method.upper()
        if method not in _METHODS:
            raise ValueError(f"unsupported method {method!r}")
        if not path_prefix.startswith("/"):
            raise ValueError(f"path_prefix must start with '/': {path_prefix!r}")
        self._routes.append(_Route(method, path_prefix, handler))
        self._routes.sort(key=lambda r: len(r.prefix), reverse=True)

    async def start(self) -> None:
        if self._server is not None:
            return
        # the stream limit bounds one line of the head; oversized lines become a 431
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._port, limit=self.max_head_bytes
        )
        sockets = self._server.sockets
        if sockets:
            self._port = sockets[0].getsockname()[1]
        log.info("http server listening on %s", self.url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # connection handling

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > self.max_connections:
                await self._send(writer, "GET", Response(503, {"error": "too many connections"}))
            else:
                await self._serve_one(reader, writer)
            await self._linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            # stop() cancels open connections; ending quietly keeps asyncio's stream
            # callback (3.11) from logging the cancellation as an error
            if self._server is not None:
                raise
        except Exception:
            log.exception("http connection failed")
        finally:
            self._connections.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError, asyncio.CancelledError):
                pass

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close, then drain what the client still sends, so the kernel does not answer
        unread bytes (a refused oversized request, say) with a reset that eats our response."""
        if writer.can_write_eof():
            writer.write_eof()
        try:
            async with asyncio.timeout(1.0):
                drained = 0
                while drained < 4 * self.max_body_bytes and (chunk := await reader.read(65536)):
                    drained += len(chunk)
        except (TimeoutError, ConnectionError):
            pass

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method = "GET"
        try:
            try:
                async with asyncio.timeout(self.head_timeout):
                    method, target, headers = await self._read_head(reader)
            except TimeoutError:
                raise _HttpError(408, "request head not received in time") from None
            try:
                async with asyncio.timeout(self.body_timeout):
                    body = await self._read_body(reader, headers)
            except TimeoutError:
                raise _HttpError(408, "request body not received in time") from None
            path, query = _split_target(target)
        except _HttpError as exc:
            log.debug("http %s: %s", exc.status, exc.detail)
            await self._send(writer, method, Response(exc.status, {"error": exc.detail}))
            return
        request = Request(method, path, query, headers, body)
        response = await self._dispatch(request)
        log.debug("http %s %s -> %d", method, path, response.status)
        await self._send(writer, method, response)

    async def _read_head(self, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
        line = await self._read_line(reader, 414)
        while line == "":  # RFC 9112 2.2: ignore empty lines before the request line
            line = await self._read_line(reader, 414)
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _HttpError(400, "malformed request line")
        method, target, _version = parts
        if not method.isalpha() or not method.isupper() or not target:
            raise _HttpError(400, "malformed request line")
        headers: dict[str, str] = {}
        size = len(line)
        while True:
            line = await self._read_line(reader, 431)
            if line == "":
                return method, target, headers
            size += len(line)
            if size > self.max_head_bytes or len(headers) >= self.max_headers:
                raise _HttpError(431, "request headers too large")
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
                raise _HttpError(400, "malformed header line")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value

    async def _read_line(self, reader: asyncio.StreamReader, too_long: int) -> str:
        try:
            raw = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise _HttpError(too_long, "request line or header too long") from None
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise _HttpError(400, "incomplete request") from None
            raise
        try:
            return raw.decode("latin-1").rstrip("\r\n")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            raise _HttpError(400, "undecodable request") from None

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "transfer-encoding" in headers:
            raise _HttpError(411, "chunked bodies are not supported; send Content-Length")
        raw = headers.get("content-length")
        if raw is None:
            return b""
        if not raw.isdigit():
            raise _HttpError(400, "invalid Content-Length")
        length = int(raw)
        if length > self.max_body_bytes:
            raise _HttpError(413, f"body larger than {self.max_body_bytes} bytes")
        try:
            return await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise _HttpError(400, "body shorter than Content-Length") from None

    async def _dispatch(self, request: Request) -> Response:
        try:
            async with asyncio.timeout(self.handler_timeout):
                return await self._route(request)
        except TimeoutError:
            log.warning("http handler for %s %s timed out", request.method, request.path)
            return Response(503, {"error": "handler timed out"})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("http handler for %s %s failed", request.method, request.path)
            return Response(500, {"error": "internal error"})

    async def _route(self, request: Request) -> Response:
        builtin = {"/metrics": self._metrics, "/healthz": self._healthz, "/readyz": self._readyz}
        if request.path in builtin:
            if request.method not in ("GET", "HEAD"):
                return Response(405, {"error": "method not allowed"}, {"Allow": "GET, HEAD"})
            return await builtin[request.path](request)
        allowed: set[str] = set()
        for route in self._routes:
            if not route.matches(request.path):
                continue
            if route.method == request.method or (route.method == "GET" and request.method == "HEAD"):
                response = await route.handler(request)
                if not isinstance(response, Response):
                    raise TypeError(f"handler for {route.prefix} returned {type(response).__name__}")
                return response
            allowed.add(route.method)
        if allowed:
            return Response(405, {"error": "method not allowed"}, {"Allow": ", ".join(sorted(allowed))})
        return Response(404, {"error": "not found"})

    # built-in endpoints

    async def _metrics(self, request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(200, encoder(self.metrics.registry), {"Content-Type": content_type})

    async def _healthz(self, request: Request) -> Response:
        return Response(200, {"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        try:
            # probes give up after a few seconds; a hung store must read as "not ready", not as a hang
            async with asyncio.timeout(self.readiness_timeout):
                checks = await self._readiness()
        except TimeoutError:
            log.warning("readiness check timed out after %.1fs", self.readiness_timeout)
            return Response(503, {"error": "readiness check timed out"})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            return Response(503, {"error": f"readiness check failed: {type(exc).__name__}"})
        ready = all(bool(v) for v in checks.values())
        return Response(200 if ready else 503, {k: bool(v) for k, v in checks.items()})

    async def _send(self, writer: asyncio.StreamWriter, method: str, response: Response) -> None:
        body, content_type = response.encode()
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Connection": "close",
            "Cache-Control": "no-store",
        }
        for name, value in response.headers.items():
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            headers[name] = value
        head = f"HTTP/1.1 {response.status} {reason}\r\n"
        head += "".join(f"{k}: {_header_value(v)}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1", "replace"))
        if method != "HEAD":
            writer.write(body)
        await writer.drain()


def _header_value(value: str) -> str:
    # a handler must not be able to split the response with a newline in a header value
    return str(value).replace("\r", " ").replace("\n", " ")


def _split_target(target: str) -> tuple[str, dict[str, str]]:
    if target.startswith("/"):  # origin-form: "/metrics?x=1" (split by hand: "//x" is not a host here)
        raw_path, _, raw_query = target.partition("?")
    else:  # absolute-form, as proxies send: "http://host:9464/metrics"
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _HttpError(400, "unsupported request target")
        raw_path, raw_query = parts.path, parts.query
    path = unquote(raw_path.partition("#")[0]) or "/"
    if "\x00" in path:
        raise _HttpError(400, "invalid path")
    return path, dict(parse_qsl(raw_query.partition("#")[0], keep_blank_values=True))
