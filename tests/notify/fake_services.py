"""Stand-ins for the chat services on 127.0.0.1, strict the way the real ones are.

Each fake checks what the real service checks — the webhook token, the signature
(recomputed from the shared secret exactly as the service documents it), the timestamp
window, size limits and the per-robot rate limit — and answers failures with the
service's real error body. Accepted messages are recorded in arrival order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeDingTalk", "FakeFeishu", "FakeService", "FakeSlack", "FakeWeCom", "FakeWebhook"]


@dataclass
class Arrival:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    body: Any


class SlidingWindow:
    def __init__(self, limit: int, per: float) -> None:
        self.limit, self.per, self.hits = limit, per, deque[float]()

    def allow(self, now: float) -> bool:
        while self.hits and self.hits[0] <= now - self.per:
            self.hits.popleft()
        if len(self.hits) >= self.limit:
            return False
        self.hits.append(now)
        return True


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: dict[str, Any], **headers: str) -> Answer:
        return cls(
            status,
            json.dumps(data, ensure_ascii=False).encode(),
            {"Content-Type": "application/json", **headers},
        )

    @classmethod
    def text(cls, status: int, text: str, **headers: str) -> Answer:
        return cls(status, text.encode(), {"Content-Type": "text/plain", **headers})


class FakeService:
    """A real HTTP server in a thread; subclasses implement ``answer``."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.rejected: list[tuple[Arrival, Answer]] = []
        self.lock = threading.Lock()
        self.port = 0
        self.is_down = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.up()

    # -- lifecycle -------------------------------------------------------------------------

    def up(self) -> None:
        """Start listening, or end an outage."""
        self.is_down = False
        if self._server is not None:
            return
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if service.is_down:
                    # an outage as a client sees it behind a load balancer: the connection
                    # is cut without an answer (and the port stays ours, so no other
                    # process can take it before the service comes back)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = None
                arrival = Arrival(
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    raw,
                    body,
                )
                with service.lock:
                    answer = service.answer(arrival)
                    (
                        service.arrivals.append(arrival)
                        if answer.status < 300 and service.accepted(answer)
                        else service.rejected.append((arrival, answer))
                    )
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def down(self) -> None:
        """An outage: every request is cut off without an answer until ``up()``."""
        self.is_down = True

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- behaviour -------------------------------------------------------------------------

    def answer(self, a: Arrival) -> Answer:
        raise NotImplementedError

    def accepted(self, answer: Answer) -> bool:
        return True


class FakeDingTalk(FakeService):
    """oapi.dingtalk.com/robot/send: access_token, 加签 (timestamp_ms + sign), 20 messages/min."""

    def __init__(
        self,
        token: str = "dt-token",
        secret: str | None = "SECdingtalk",
        *,
        limit: int = 20,
        per: float = 60.0,
    ) -> None:
        self.token, self.secret = token, secret
        self.window = SlidingWindow(limit, per)
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base}/robot/send?access_token={self.token}"

    def accepted(self, answer: Answer) -> bool:
        return json.loads(answer.body).get("errcode") == 0

    def answer(self, a: Arrival) -> Answer:
        def err(code: int, msg: str) -> Answer:
            return Answer.json(200, {"errcode": code, "errmsg": msg})

        if a.path != "/robot/send" or a.query.get("access_token") != [self.token]:
            return err(300001, "token is not exist")
        if self.secret is not None:
            ts, sign = a.query.get("timestamp", [""])[0], a.query.get("sign", [""])[0]
            if not ts.isdigit() or abs(int(ts) - time.time() * 1000) > 3600 * 1000:
                return err(310000, "invalid timestamp")
            expected = base64.b64encode(
                hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256).digest()
            ).decode()
            if not hmac.compare_digest(sign, expected):
                return err(
                    310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"
                )
        b = a.body
        if not isinstance(b, dict) or b.get("msgtype") not in ("text", "markdown", "actionCard", "link"):
            return err(40035, "缺少参数 json")
        if b["msgtype"] == "markdown" and not (b["markdown"].get("title") and b["markdown"].get("text")):
            return err(40035, "缺少参数 markdown")
        if not self.window.allow(time.monotonic()):
            return err(130101, "send too fast, exceed 20 times per minute")
        return err(0, "ok")


class FakeFeishu(FakeService):
    """open.feishu.cn/open-apis/bot/v2/hook/<token>: signature in the body, 5/s and 100/min, 20 KB."""

    def __init__(self, token: str = "fs-token", secret: str | None = "feishu-secret") -> None:
        self.token, self.secret = token, secret
        self.windows = [SlidingWindow(5, 1.0), SlidingWindow(100, 60.0)]
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base}/open-apis/bot/v2/hook/{self.token}"

    def accepted(self, answer: Answer) -> bool:
        return json.loads(answer.body).get("code") == 0

    def answer(self, a: Arrival) -> Answer:
        def err(code: int, msg: str) -> Answer:
            return Answer.json(200, {"code": code, "data": {}, "msg": msg})

        if a.path != f"/open-apis/bot/v2/hook/{self.token}":
            return err(19001, "param invalid: incoming webhook access token invalid")
        if len(a.raw) > 20 * 1024 or not isinstance(a.body, dict):
            return err(9499, "Bad Request")
        if self.secret is not None:
            ts, sign = str(a.body.get("timestamp", "")), str(a.body.get("sign", ""))
            key = f"{ts}\n{self.secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if (
                not ts.isdigit()
                or abs(int(ts) - time.time()) > 3600
                or not hmac.compare_digest(sign, expected)
            ):
                return err(19021, "sign match fail or timestamp is not within one hour from current time")
        if a.body.get("msg_type") not in ("text", "post", "interactive", "image", "share_chat"):
            return err(19002, "params error, msg_type need")
        now = time.monotonic()
        if not all(w.allow(now) for w in self.windows):
            return err(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]")
        return Answer.json(
            200, {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
        )


class FakeWeCom(FakeService):
    """qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…: markdown ≤ 4096 bytes, 20 messages/min."""

    def __init__(self, key: str = "wc-key") -> None:
        self.key = key
        self.window = SlidingWindow(20, 60.0)
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={self.key}"

    def accepted(self, answer: Answer) -> bool:
        return json.loads(answer.body).get("errcode") == 0

    def answer(self, a: Arrival) -> Answer:
        def err(code: int, msg: str) -> Answer:
            hint = f", hint: [{int(time.time())}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
            return Answer.json(200, {"errcode": code, "errmsg": msg + (hint if code else "")})

        if a.path != "/cgi-bin/webhook/send" or a.query.get("key") != [self.key]:
            return err(93000, "invalid webhook url")
        b = a.body
        if not isinstance(b, dict) or b.get("msgtype") not in ("text", "markdown", "image", "news", "file"):
            return err(40008, "invalid message type")
        if b["msgtype"] == "markdown":
            content = b.get("markdown", {}).get("content", "")
            if not content:
                return err(44004, "empty content")
            if len(content.encode()) > 4096:
                return err(40058, "markdown.content exceed max length 4096. invalid Request Parameter")
        if not self.window.allow(time.monotonic()):
            return err(45009, "api freq out of limit")
        return err(0, "ok")


class FakeSlack(FakeService):
    """hooks.slack.com/services/T…/B…/…: "ok", or an HTTP error with a short reason; ~1/s."""

    def __init__(self, path: str = "/services/T0001/B0001/slacksecret", *, per_second: int = 1) -> None:
        self.hook = path
        self.window = SlidingWindow(per_second, 1.0)
        super().__init__()

    @property
    def url(self) -> str:
        return self.base + self.hook

    def answer(self, a: Arrival) -> Answer:
        if a.path != self.hook:
            return Answer.text(404, "no_service")
        if not isinstance(a.body, dict):
            return Answer.text(400, "invalid_payload")
        if not a.body.get("text") and not a.body.get("blocks"):
            return Answer.text(400, "no_text")
        blocks = list(a.body.get("blocks", []))
        for att in a.body.get("attachments", []):
            blocks += att.get("blocks", [])
        if len(a.body.get("blocks", [])) > 50 or len(a.body.get("text", "")) > 40000:
            return Answer.text(400, "invalid_blocks")
        for block in blocks:
            text = (block.get("text") or {}).get("text", "")
            if (block.get("type") == "header" and len(text) > 150) or len(text) > 3000:
                return Answer.text(400, "invalid_blocks")
        if not self.window.allow(time.monotonic()):
            return Answer.text(429, "rate_limited", **{"Retry-After": "1"})
        return Answer.text(200, "ok")


class FakeWebhook(FakeService):
    """Any receiver: verifies the X-Sentinel-Signature HMAC when it knows the secret."""

    def __init__(self, secret: str | None = "hook-secret") -> None:
        self.secret = secret
        super().__init__()

    @property
    def url(self) -> str:
        return self.base + "/alerts"

    def answer(self, a: Arrival) -> Answer:
        if self.secret is not None:
            ts = a.headers.get("x-sentinel-timestamp", "")
            mac = hmac.new(self.secret.encode(), ts.encode() + b"." + a.raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(a.headers.get("x-sentinel-signature", ""), "sha256=" + mac):
                return Answer.json(401, {"error": "bad signature"})
        return Answer.json(202, {"accepted": True})
