"""A small JSON API for alerts on the metrics/health server, behind bearer tokens.

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
the write token (403 otherwise). Tokens come from the config (``[api] token`` and
``write_token``, usually ``env:…``), never from the URL, and are compared in constant time.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sentinel.alerting.manage import ALL_WATCHES, MAX_ID, AlertManager, AlertNotFound, AlertStateError
from sentinel.alerting.responses import ResponseLog
from sentinel.clock import Clock
from sentinel.config import parse_duration
from sentinel.obs.logs import register_secret
from sentinel.obs.server import HttpServer, Request, Response
from sentinel.store.sql import SqlStore
from sentinel.times import parse_when

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


class AlertApi:
    """The handlers; :func:`register_routes` mounts them on an :class:`HttpServer`."""

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

    async def handle(self, request: Request) -> Response:
        match = _BEARER.match(request.headers.get("authorization", ""))
        access = self.tokens.access(match.group(1) if match else None)
        if access is None:
            return Response(
                401,
                {"error": "a valid bearer token is required"},
                {"WWW-Authenticate": 'Bearer realm="sentinel"'},
            )
        write = request.method not in ("GET", "HEAD")
        if write and access != "write":
            return Response(403, {"error": "this token may only read"})
        parts = [p for p in request.path[len(PREFIX) :].split("/") if p]
        try:
            body = await self._route(request, parts)
        except _ApiError as exc:
            return Response(exc.status, {"error": exc.message})
        except AlertNotFound as exc:
            return Response(404, {"error": str(exc)})
        except AlertStateError as exc:
            return Response(409, {"error": str(exc)})
        except (ValueError, OverflowError) as exc:
            return Response(400, {"error": str(exc)})
        return Response(200, body)

    async def _route(self, request: Request, parts: list[str]) -> Any:
        m = request.method
        q = request.query
        match parts:
            case ["alerts"] if m in ("GET", "HEAD"):
                alerts = await self.manager.list_alerts(
                    watch=q.get("watch"), status=q.get("status") or None, limit=_int(q.get("limit"), 100)
                )
                return {"alerts": [a.to_json() for a in alerts]}
            case ["alerts", aid] if m in ("GET", "HEAD"):
                alert = await self.manager.get(_id(aid))
                events = await self.manager.events(alert.id)
                return {"alert": alert.to_json(), "events": [e.to_record() for e in events]}
            case ["alerts", aid, "ack"] if m == "POST":
                body = _body(request)
                return {
                    "alert": (
                        await self.manager.ack(_id(aid), actor=_by(body), note=_str(body, "note"))
                    ).to_json()
                }
            case ["alerts", aid, "resolve"] if m == "POST":
                body = _body(request)
                return {
                    "alert": (
                        await self.manager.resolve(_id(aid), actor=_by(body), note=_str(body, "note"))
                    ).to_json()
                }
            case ["silences"] if m in ("GET", "HEAD"):
                silences = await self.manager.silences(
                    watch=q.get("watch"), active_only=q.get("active") in ("1", "true")
                )
                return {"silences": [s.to_json() for s in silences]}
            case ["silences"] if m == "POST":
                body = _body(request)
                now = self.clock.now()
                watch = self._watch(_required(body, "watch"), everything=True)
                if body.get("until"):
                    until = parse_when(str(body["until"]), now)
                elif body.get("for"):
                    until = now + _seconds(body["for"])
                else:
                    raise ValueError("a silence needs 'until' (a time) or 'for' (a duration)")
                silence = await self.manager.silence(
                    watch, until=until, actor=_by(body), reason=_str(body, "reason")
                )
                return {"silence": silence.to_json()}
            case ["silences", sid, "expire"] if m == "POST":
                body = _body(request)
                return {"silence": (await self.manager.expire_silence(_id(sid), actor=_by(body))).to_json()}
            case ["responses"] if m in ("GET", "HEAD"):
                return {"responses": [r.to_json() for r in await self.responses.list(watch=q.get("watch"))]}
            case ["responses"] if m == "POST":
                body = _body(request)
                response = await self.responses.add(
                    self._watch(_required(body, "watch")),
                    at=parse_when(str(body.get("at") or "now"), self.clock.now()),
                    kind=_required(body, "kind"),
                    actor=_by(body),
                    note=_str(body, "note"),
                    url=_str(body, "url"),
                )
                return {"response": response.to_json()}
            case ["audit"] if m in ("GET", "HEAD"):
                entries = await self.manager.audit_trail(limit=_int(q.get("limit"), 200))
                return {"audit": [e.to_json() for e in entries]}
        raise _ApiError(404, f"no such endpoint: {m} {request.path}")

    def _watch(self, name: str, *, everything: bool = False) -> str:
        if self.watches is None or name in self.watches or (everything and name == ALL_WATCHES):
            return name
        known = ", ".join(sorted(self.watches)) or "none configured"
        raise ValueError(f"unknown watch {name[:80]!r} (known: {known})")


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


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
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
    server: HttpServer,
    store: SqlStore,
    clock: Clock,
    tokens: ApiTokens,
    watches: Collection[str] | None = None,
) -> None:
    """Mount the alert API on ``server`` under ``/api/v1/`` (GET, HEAD and POST).

    ``watches``: the configured watch names; silences and responses for any other name
    (except ``"*"``, every watch) are refused with 400.
    """
    api = AlertApi(store, clock, tokens, watches)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        server.add_route(method, PREFIX, api.handle)
