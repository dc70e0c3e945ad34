"""Run an ASGI app with uvicorn as a task on the caller's event loop.

The daemon and the simulator both serve HTTP this way: no second process, no thread, no
second loop. The socket is bound here, before uvicorn starts, so that a port in use is an
``OSError`` the caller sees (uvicorn would ``sys.exit`` from inside its task), and port 0
gives a free port that :attr:`AsgiService.port` reports.

uvicorn installs its own SIGINT/SIGTERM handlers while it serves; :class:`_Server` does not,
because the daemon owns the signals and stops the server itself.

Example::

    async with AsgiService(app, "127.0.0.1", 0) as service:
        print(service.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["AsgiService"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the daemon handles SIGINT/SIGTERM and calls stop()


class AsgiService:
    """``app`` served on ``host:port`` until :meth:`stop`.

    ``grace``: seconds open requests get to finish at stop (long-lived streams should end on
    their own when the app shuts down; what is left after that is cancelled).
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        grace: float = 3.0,
        keep_alive: float = 5.0,
        max_connections: int | None = 256,
    ) -> None:
        self.app = app
        self.host = host
        self._port = port
        self.grace = grace
        self.keep_alive = keep_alive
        self.max_connections = max_connections
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port once started (useful when constructed with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        if self._task is not None:
            return
        sock = _bind(self.host, self._port)
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,  # the daemon configured logging; uvicorn must not replace it
            access_log=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=int(self.keep_alive),
            timeout_graceful_shutdown=int(self.grace),
            limit_concurrency=self.max_connections,
            http="h11",
            ws="none",
        )
        self._server = server = _Server(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name=f"http-{self._port}")
        while not server.started:
            if self._task.done():
                sock.close()
                self._task.result()  # raises what stopped it
                raise RuntimeError("http server stopped while starting")
            await asyncio.sleep(0.005)
        log.info("http server listening on %s", self.url)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None or self._server is None:
            return
        self._server.should_exit = True
        await task

    async def __aenter__(self) -> AsgiService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
