"""A small JSON API for alerts on the daemon's web server, behind bearer tokens.

Mounted under ``/api/v1/`` by :func:`register_routes`:

============================================  ======  ==========================================
``/api/v1/alerts?watch=&status=&limit=``      GET     alerts, newest first
``/api/v1/alerts/{id}``                       GET     one alert with its events
``/api/v1/alerts/{id}/ack``                   POST    ``{"by": "wang.li", "note": "…"}``
``/api/v1/alerts/{id}/resolve``               POST    ``{"by": "…", "note": "…"}``
``/api/v1/silences?watch=&active=1``          GET     silences
``/api/v1/silences``                          POST    ``{"watch", "until" | "for", "reason", "by"}``
``/api/v1/silences/{id}/expire``              POST    ``{"by": "…"}``
``/api/v1/responses?watch=``                  GET     recorded responses
``/api/v1/responses``                         POST    ``{"watch", "at", "kind", "note", "url", "by"}``
``/api/v1/audit?limit=``                      GET     the audit trail, newest first
============================================  ======  ==========================================

Every request needs ``Authorization: Bearer <token>`` (401 without a valid one, also when no
token is configured: the API is then closed). The read token may only read; changes need
the write token (403 otherwise). The OpenAPI schema is served at ``/api/v1/openapi.json``
and its docs page at ``/api/v1/docs``. Tokens come from the config (``[api] token`` and
``write_token``, usually ``env:…``), never from the URL, and are compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from sentinel.alerting.manage import ALL_WATCHES, MAX_ID, AlertManager, AlertNotFound, AlertStateError
from sentinel.alerting.responses import ResponseLog
from sentinel.clock import Clock
from sentinel.config import parse_duration
from sentinel.obs.logs import register_secret
from sentinel.store.sql import SqlStore
from sentinel.times import parse_when

if TYPE_CHECKING:
    from sentinel.web.server import WebServer

__all__ = ["PREFIX", "AlertApi", "ApiTokens", "register_routes"]

PREFIX = "/api/v1"
_BEARER = re.compile(r"^\s*Bearer\s+(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ApiTokens:
    """Bearer tokens for the API: ``read`` may only read, ``write`` may also change things.

    >>> ApiTokens(read="r-123", write="w-456").access("w-456")
    'write'
    """

    read: str | None = None
    write: str | None = None

    def __repr__(self) -> str:  # tokens must never reach a log line
        return f"ApiTokens(read={'set' if self.read else None}, write={'set' if self.write else None})"

    @classmethod
    def from_options(cls, options: Any) -> ApiTokens:
        """From a config section (object or mapping) with ``token`` and ``write_token``."""
        get = options.get if isinstance(options, dict) else lambda k, d=None: getattr(options, k, d)
        return cls(read=get("token") or None, write=get("write_token") or None)

    @classmethod
    def from_config(cls, config: Any) -> ApiTokens:
        """From the config's ``[api]`` section (``token``, ``write_token``); closed if there is none."""
        section = getattr(config, "api", None)
        return cls() if section is None else cls.from_options(section)

    def access(self, presented: str | None) -> str | None:
        """``"write"``, ``"read"`` or ``None`` for the token a client presented."""
        if not presented:
            return None
        given = presented.encode()
        if self.write and hmac.compare_digest(given, self.write.encode()):
            return "write"
        if self.read and hmac.compare_digest(given, self.read.encode()):
            return "read"
        return None


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_BODY: dict[str, dict[str, Any]] = {
    "ack": {"by": "wang.li", "note": "接手处理"},
    "resolve": {"by": "wang.li", "note": "已澄清"},
    "silence": {"watch": "acme", "for": "2h", "reason": "发布会", "by": "wang.li"},
    "expire": {"by": "wang.li"},
    "response": {
        "watch": "acme",
        "at": "now",
        "kind": "statement",
        "note": "…",
        "url": None,
        "by": "wang.li",
    },
}


def _doc_body(example: dict[str, Any]) -> dict[str, Any]:
    # the bodies are parsed by hand (errors keep the API's {"error"} shape); this documents them
    return {
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


class AlertApi:
    """The handlers as a FastAPI router (:attr:`router`); :func:`register_routes` mounts it."""

    def __init__(
        self, store: SqlStore, clock: Clock, tokens: ApiTokens, watches: Collection[str] | None = None
    ) -> None:
        self.tokens = tokens
        for token in (tokens.read, tokens.write):
            register_secret(token)  # a token quoted in any error or log line is masked
        self.clock = clock
        # the configured watch names; None: not known here, any name is accepted
        self.watches = None if watches is None else frozenset(watches)
        self.manager = AlertManager(store, clock)
        self.responses = ResponseLog(store, clock)
        self.router = self._routes()

    def _authorize(self, request: Request) -> None:
        match = _BEARER.match(request.headers.get("authorization", ""))
        access = self.tokens.access(match.group(1) if match else None)
        if access is None:
            raise _ApiError(401, "a valid bearer token is required")
        if request.method not in ("GET", "HEAD") and access != "write":
            raise _ApiError(403, "this token may only read")

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX, tags=["alerts"], route_class=_ApiRoute)
        router.dependencies.append(Depends(self._authorize))
        m, q = self.manager, _query
        read = ["GET", "HEAD"]

        @router.api_route("/alerts", methods=read, summary="Alerts, newest first")
        async def alerts(request: Request) -> dict[str, Any]:
            found = await m.list_alerts(
                watch=q(request, "watch"),
                status=q(request, "status") or None,
                limit=_int(q(request, "limit"), 100),
            )
            return {"alerts": [a.to_json() for a in found]}

        @router.api_route("/alerts/{aid}", methods=read, summary="One alert with its events")
        async def alert(aid: str) -> dict[str, Any]:
            found = await m.get(_id(aid))
            events = await m.events(found.id)
            return {"alert": found.to_json(), "events": [e.to_record() for e in events]}

        @router.post("/alerts/{aid}/ack", summary="Acknowledge", openapi_extra=_doc_body(_BODY["ack"]))
        async def ack(aid: str, request: Request) -> dict[str, Any]:
            body = await _body(request)
            return {"alert": (await m.ack(_id(aid), actor=_by(body), note=_str(body, "note"))).to_json()}

        @router.post("/alerts/{aid}/resolve", summary="Resolve", openapi_extra=_doc_body(_BODY["resolve"]))
        async def resolve(aid: str, request: Request) -> dict[str, Any]:
            body = await _body(request)
            return {"alert": (await m.resolve(_id(aid), actor=_by(body), note=_str(body, "note"))).to_json()}

        @router.api_route("/silences", methods=read, summary="Silences")
        async def silences(request: Request) -> dict[str, Any]:
            found = await m.silences(
                watch=q(request, "watch"), active_only=q(request, "active") in ("1", "true")
            )
            return {"silences": [s.to_json() for s in found]}

        @router.post("/silences", summary="Silence a watch", openapi_extra=_doc_body(_BODY["silence"]))
        async def silence(request: Request) -> dict[str, Any]:
            body = await _body(request)
            now = self.clock.now()
            watch = self._watch(_required(body, "watch"), everything=True)
            if body.get("until"):
                until = parse_when(str(body["until"]), now)
            elif body.get("for"):
                until = now + _seconds(body["for"])
            else:
                raise ValueError("a silence needs 'until' (a time) or 'for' (a duration)")
            made = await m.silence(watch, until=until, actor=_by(body), reason=_str(body, "reason"))
            return {"silence": made.to_json()}

        @router.post(
            "/silences/{sid}/expire", summary="End a silence", openapi_extra=_doc_body(_BODY["expire"])
        )
        async def expire(sid: str, request: Request) -> dict[str, Any]:
            body = await _body(request)
            return {"silence": (await m.expire_silence(_id(sid), actor=_by(body))).to_json()}

        @router.api_route("/responses", methods=read, summary="Recorded responses")
        async def responses(request: Request) -> dict[str, Any]:
            return {"responses": [r.to_json() for r in await self.responses.list(watch=q(request, "watch"))]}

        @router.post("/responses", summary="Record a response", openapi_extra=_doc_body(_BODY["response"]))
        async def add_response(request: Request) -> dict[str, Any]:
            body = await _body(request)
            response = await self.responses.add(
                self._watch(_required(body, "watch")),
                at=parse_when(str(body.get("at") or "now"), self.clock.now()),
                kind=_required(body, "kind"),
                actor=_by(body),
                note=_str(body, "note"),
                url=_str(body, "url"),
            )
            return {"response": response.to_json()}

        @router.api_route("/audit", methods=read, summary="The audit trail, newest first")
        async def audit(request: Request) -> dict[str, Any]:
            entries = await m.audit_trail(limit=_int(q(request, "limit"), 200))
            return {"audit": [e.to_json() for e in entries]}

        @router.api_route(
            "/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
        )
        async def nothing(request: Request) -> dict[str, Any]:
            # after the token check, so that the API's shape is not probed without one
            raise _ApiError(404, f"no such endpoint: {request.method} {request.url.path}")

        return router

    def _watch(self, name: str, *, everything: bool = False) -> str:
        if self.watches is None or name in self.watches or (everything and name == ALL_WATCHES):
            return name
        known = ", ".join(sorted(self.watches)) or "none configured"
        raise ValueError(f"unknown watch {name[:80]!r} (known: {known})")


class _ApiRoute(APIRoute):
    """Maps the alerting errors to the API's statuses, each as ``{"error": message}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except _ApiError as exc:
                headers = {"WWW-Authenticate": 'Bearer realm="sentinel"'} if exc.status == 401 else None
                return JSONResponse({"error": exc.message}, exc.status, headers)
            except AlertNotFound as exc:
                return JSONResponse({"error": str(exc)}, 404)
            except AlertStateError as exc:
                return JSONResponse({"error": str(exc)}, 409)
            except (ValueError, OverflowError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
            except ClientDisconnect:  # the client left before its body was in: nobody to answer
                return Response(status_code=400)

        return handle


def _query(request: Request, key: str) -> str | None:
    values = request.query_params.getlist(key)
    return values[-1] if values else None  # repeated keys: the last one counts


def _id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()):
        raise _ApiError(404, f"not an id: {raw[:40]!r}")
    if len(raw.lstrip("0")) > 10 or int(raw) > MAX_ID:
        raise _ApiError(400, f"id out of range: {raw[:40]!r}")
    return int(raw)


def _int(raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise ValueError(f"not a number: {raw[:40]!r}")
    digits = raw.lstrip("0") or "0"
    return 10_000 if len(digits) > 5 else min(int(digits), 10_000)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
        raise ValueError("the body must be JSON") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _required(body: dict[str, Any], key: str) -> str:
    value = _str(body, key)
    if not value or not value.strip():
        raise ValueError(f"{key} is required")
    return value


def _by(body: dict[str, Any]) -> str:
    # who did it, as the client says; marked as coming through the API in the audit trail
    return f"{_str(body, 'by') or 'anonymous'} (api)"


def _seconds(value: Any) -> timedelta:
    return timedelta(seconds=parse_duration(value))


def register_routes(
    server: WebServer,
    store: SqlStore,
    clock: Clock,
    tokens: ApiTokens,
    watches: Collection[str] | None = None,
) -> AlertApi:
    """Mount the alert API on ``server`` under ``/api/v1/``.

    ``watches``: the configured watch names; silences and responses for any other name
    (except ``"*"``, every watch) are refused with 400.
    """
    api = AlertApi(store, clock, tokens, watches)
    server.include_router(api.router)
    return api
