"""The console at ``/``: overview, alerts and their pages, review, sign-in.

Server-rendered (Jinja2, autoescaped) with a little vanilla JavaScript and ECharts from
``/static``; no inline script (the Content-Security-Policy allows scripts from the daemon
only), the data a page's charts draw travels as JSON in ``<script type="application/json">``.
Post text is shown cleaned (:func:`clean`: bidi controls and invisible characters dropped)
and escaped; only http(s) links are linked.

Roles: a viewer reads everything; a responder may also acknowledge, assign, silence, resolve
and record responses; the user list is the command line's (``sentinel users``). Every form
carries the session's CSRF token; changes go through :class:`AlertManager` (as the CLI and
the API do), with ``NAME (web)`` in the audit trail.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.staticfiles import StaticFiles

from sentinel.alerting.manage import AlertNotFound, AlertStateError
from sentinel.clock import Clock
from sentinel.config import LEVELS, Config
from sentinel.notify.sanitize import safe_url
from sentinel.obs.metrics import Metrics
from sentinel.store import SqlStore
from sentinel.store.users import UserRecord
from sentinel.web.auth import LoginLimiter, Session, Sessions, verify_password
from sentinel.web.i18n import LANGS, words
from sentinel.web.views import Views, clean

__all__ = ["COOKIE", "Console", "alert_path"]

HERE = Path(__file__).parent
log = logging.getLogger(__name__)
COOKIE = "sentinel_session"
LOGIN_COOKIE = "sentinel_login"  # the sign-in form's CSRF token, double-submitted
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; frame-src 'self'"
)
RESPONSE_KINDS = ("statement", "apology", "clarification", "takedown", "compensation", "other")


def alert_path(alert_id: int) -> str:
    return f"/alerts/{alert_id}"


class _Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


class Console:
    """The console's routes (:attr:`router`) and what they share."""

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        config: Config,
        metrics: Metrics | None = None,
        *,
        stopping: asyncio.Event | None = None,
        sse_interval: float = 2.0,
        overview_max_age: float = 5.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self.metrics = metrics
        self.stopping = stopping or asyncio.Event()
        self.sse_interval = sse_interval
        self.overview_max_age = overview_max_age
        self._overview: tuple[dict[str, Any] | None, float] = (None, 0.0)
        self._overview_lock = asyncio.Lock()
        self._overview_task: asyncio.Task[dict[str, Any]] | None = None
        web = config.web
        self.sessions = Sessions(ttl=web.session_ttl)
        self.limiter = LoginLimiter(web.login_attempts, web.login_window)
        self.views = Views(store, clock, config, metrics)
        self.watches = self.views.watches
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["clean"] = clean
        self.templates.env.filters["safe_url"] = safe_url
        # times as the PR team reads them: the configured display offset (UTC+8 by default)
        self.tz = timezone(timedelta(hours=float((config.risk.model_extra or {}).get("utc_offset", 8))))
        self.templates.env.filters["local"] = lambda dt, fmt="%Y-%m-%d %H:%M": dt.astimezone(
            self.tz
        ).strftime(fmt)
        self.router = self._routes()

    def mount(self, app: Any) -> None:
        app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
        app.include_router(self.router)

    # -- sessions ------------------------------------------------------------------------------

    def _now(self) -> float:
        return time.time()  # sessions and sign-in limits live on wall time, not the pipeline's clock

    async def _user(self, request: Request) -> tuple[Session, UserRecord] | None:
        session = self.sessions.get(request.cookies.get(COOKIE), self._now())
        if session is None:
            return None
        user = await self.store.get_user(session.user)  # removed users are out; role changes count now
        if user is None:
            self.sessions.close(request.cookies.get(COOKIE))
            return None
        return session, user

    async def _page_user(self, request: Request) -> tuple[Session, UserRecord]:
        found = await self._user(request)
        if found is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise _Redirect(f"/login?next={quote(target, safe='')}")
        return found

    async def _acting_user(self, request: Request, csrf: str) -> UserRecord:
        """The user behind a form post: signed in, CSRF token right, at least a responder."""
        found = await self._user(request)
        if found is None:
            raise _Redirect("/login")
        session, user = found
        if not session.csrf_ok(csrf):
            raise _Forbidden("csrf")
        if not user.may("responder"):
            raise _Forbidden("role")
        return user

    def _lang(self, request: Request) -> str:
        lang = request.cookies.get("lang", "zh")
        return lang if lang in LANGS else "zh"

    def _login_form(self, request: Request, status: int, **context: Any) -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        response = self._render(request, "login.html", status, login_csrf=token, **context)
        response.set_cookie(
            LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login",
            secure=self.config.web.secure_cookie,
        )  # fmt: skip
        return response

    def _render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        lang = self._lang(request)
        context.setdefault("user", None)
        context.setdefault("csrf", "")
        response = self.templates.TemplateResponse(
            request, name, {"w": words(lang), "lang": lang, "levels": LEVELS, **context}, status_code=status
        )
        _secure(response)
        return response

    # -- routes --------------------------------------------------------------------------------

    def _routes(self) -> APIRouter:
        router = APIRouter(include_in_schema=False, route_class=_ConsoleRoute)

        @router.get("/login")
        async def login_page(request: Request, next: str = "/") -> HTMLResponse:
            return self._login_form(request, 200, next=_local(next))

        @router.post("/login")
        async def login(
            request: Request,
            username: str = Form(""),
            password: str = Form(""),
            next: str = Form("/"),
            csrf: str = Form(""),
        ) -> Response:
            # the form's token against its cookie: no other site can sign a browser in (login CSRF)
            expected = request.cookies.get(LOGIN_COOKIE, "")
            if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
                return self._login_form(request, 403, error="login_expired", next=_local(next))
            now = self._now()
            ip = request.client.host if request.client else "?"
            keys = [f"user:{username[:64]}", f"ip:{ip}"]
            if self.limiter.blocked(keys, now):
                return self._login_form(request, 429, error="login_limited", next=_local(next))
            user = await self.store.get_user(username[:64]) if username else None
            if not verify_password(user.password_hash if user else None, password) or user is None:
                self.limiter.failed(keys, now)
                return self._login_form(request, 401, error="login_failed", next=_local(next))
            self.limiter.succeeded([f"user:{username}"])
            sid, _ = self.sessions.open(user.name, user.role, now)
            response = RedirectResponse(_local(next), 303)
            response.delete_cookie(LOGIN_COOKIE, path="/login")
            response.set_cookie(
                COOKIE,
                sid,
                max_age=int(self.config.web.session_ttl),
                httponly=True,
                samesite="lax",
                secure=self.config.web.secure_cookie,
                path="/",
            )
            return response

        @router.post("/logout")
        async def logout(request: Request, csrf: str = Form("")) -> Response:
            found = await self._user(request)
            if found is not None and found[0].csrf_ok(csrf):
                self.sessions.close(request.cookies.get(COOKIE))
            response = RedirectResponse("/login", 303)
            response.delete_cookie(COOKIE, path="/")
            return response

        @router.get("/favicon.ico")
        async def favicon() -> Response:
            return Response(status_code=204)  # no icon; a 404 would show in the browser console

        @router.get("/lang/{code}")
        async def language(code: str, next: str = "/") -> Response:
            response = RedirectResponse(_local(next), 303)
            if code in LANGS:
                response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax", path="/")
            return response

        @router.get("/")
        async def overview(request: Request) -> HTMLResponse:
            session, user = await self._page_user(request)
            data = await self.overview()
            return self._render(
                request, "overview.html", user=user, csrf=session.csrf, data=data, page="overview"
            )

        @router.get("/api/console/overview")
        async def overview_json(request: Request) -> Response:
            await self._page_user(request)
            return _json(await self.overview())

        @router.get("/events")
        async def events(request: Request) -> Response:
            await self._page_user(request)
            return StreamingResponse(
                self._stream(request),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            )

        @router.get("/alerts")
        async def alerts(
            request: Request, watch: str = "", level: str = "", status: str = ""
        ) -> HTMLResponse:
            session, user = await self._page_user(request)
            rows = await self.views.alert_rows(
                watch=watch or None, level=level or None, status=status or None
            )
            return self._render(
                request,
                "alerts.html",
                user=user,
                csrf=session.csrf,
                rows=rows,
                watches=self.watches,
                f={"watch": watch, "level": level, "status": status},
                page="alerts",
            )

        @router.get("/alerts/{alert_id}")
        async def alert(request: Request, alert_id: int) -> HTMLResponse:
            session, user = await self._page_user(request)
            try:
                detail = await self.views.alert_detail(alert_id, self._lang(request))
            except AlertNotFound:
                return self._render(request, "error.html", 404, user=user, message=f"#{alert_id}")
            return self._render(
                request,
                "alert.html",
                user=user,
                csrf=session.csrf,
                d=detail,
                kinds=RESPONSE_KINDS,
                page="alerts",
            )

        @router.post("/alerts/{alert_id}/{action}")
        async def act(request: Request, alert_id: int, action: str) -> Response:
            form = await request.form()
            user = await self._acting_user(request, str(form.get("csrf") or ""))
            await self.views.act(alert_id, action, {k: str(v) for k, v in form.items()}, user)
            return RedirectResponse(alert_path(alert_id), 303)

        @router.get("/review")
        async def review(
            request: Request, watch: str = "", since: str = "now-7d", until: str = "now"
        ) -> HTMLResponse:
            session, user = await self._page_user(request)
            return self._render(
                request,
                "review.html",
                user=user,
                csrf=session.csrf,
                watches=self.watches,
                f={
                    "watch": watch or (self.watches[0] if self.watches else ""),
                    "since": since,
                    "until": until,
                },
                page="review",
            )

        @router.get("/review/report.html")
        async def review_report(
            request: Request, watch: str, since: str = "now-7d", until: str = "now", download: int = 0
        ) -> Response:
            await self._page_user(request)
            html = await self.views.review_html(watch, since, until, self._lang(request))
            headers = {
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
            }
            if download:
                name = f"sentinel-review-{quote(watch, safe='')}.html"
                headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
            return HTMLResponse(html, headers=headers)

        return router

    # -- what the pages show -------------------------------------------------------------------

    async def overview(self) -> dict[str, Any]:
        """The overview's data, at most ``overview_max_age`` seconds old.

        Counting a week of posts for every watch takes a while on a big store (bench/console.py),
        so pages and event streams share one snapshot: a stale one is served at once while one
        refresh runs behind it; only the very first request waits for it.
        """
        snapshot, at = self._overview
        if snapshot is None:
            return await self._refresh_overview()
        if time.monotonic() - at > self.overview_max_age and (
            self._overview_task is None or self._overview_task.done()
        ):
            self._overview_task = asyncio.create_task(self._refresh_overview(), name="console-overview")
        return snapshot

    async def _refresh_overview(self) -> dict[str, Any]:
        async with self._overview_lock:
            snapshot, at = self._overview
            if snapshot is not None and time.monotonic() - at <= self.overview_max_age:
                return snapshot  # another request refreshed it while this one waited
            try:
                snapshot = await self.views.overview_data()
            except Exception:
                if self._overview[0] is None:
                    raise
                log.exception("console: refreshing the overview failed; serving the last one")
                return self._overview[0]
            self._overview = (snapshot, time.monotonic())
            return snapshot

    async def _stream(self, request: Request) -> Any:
        """Server-sent events: the overview's data every ``sse_interval`` seconds, while it changes."""
        last = ""
        yield "retry: 3000\n\n"
        while not self.stopping.is_set():
            data = json.dumps(await self.overview(), ensure_ascii=False, default=str)
            if data != last:
                last = data
                yield f"event: overview\ndata: {data}\n\n"
            else:
                yield ": keep-alive\n\n"
            try:
                await asyncio.wait_for(self.stopping.wait(), self.sse_interval)
            except TimeoutError:
                pass
            if await request.is_disconnected():
                return


class _Forbidden(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


class _ConsoleRoute(APIRoute):
    """Maps what a page or form runs into to an answer: sign in, 403, 404, 409, 400."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except _Redirect as exc:
                return RedirectResponse(exc.to, 303)
            except _Forbidden as exc:
                return _secure(HTMLResponse(_message(request, "forbidden", exc.why), 403))
            except AlertNotFound as exc:
                return _secure(HTMLResponse(_message(request, None, str(exc)), 404))
            except AlertStateError as exc:
                return _secure(HTMLResponse(_message(request, None, str(exc)), 409))
            except (ValueError, OverflowError) as exc:
                return _secure(HTMLResponse(_message(request, None, str(exc)), 400))

        return handle


def _message(request: Request, key: str | None, detail: str) -> str:
    lang = request.cookies.get("lang", "zh")
    w = words(lang)
    head = w[key] if key else ""
    back = html.escape(request.headers.get("referer") or "/", quote=True)
    body = html.escape(f"{head} {detail}".strip())
    return (
        f'<!doctype html><html lang="{"en" if lang == "en" else "zh-CN"}"><meta charset="utf-8">'
        f'<link rel="stylesheet" href="/static/console.css"><main class="message"><p id="message">{body}</p>'
        f'<p><a href="{back if back.startswith("/") else "/"}">←</a></p></main></html>'
    )


def _secure(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _local(target: str) -> str:
    """Only a path on this site (no "//host", no scheme): an open redirect otherwise."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _json(data: Any) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str)
    return _secure(Response(body, media_type="application/json"))
