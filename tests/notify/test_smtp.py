"""The SMTP notifier against a real SMTP server (aiosmtpd) on 127.0.0.1, with AUTH."""

from __future__ import annotations

import email
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from notify_support import build, make_event

from sentinel.config import ConfigError
from sentinel.notify.base import NotifyError
from sentinel.notify.smtp import Mail, SmtpNotifier

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

USER, PASSWORD = "sentinel-test", "not-a-real-password-7f3a"  # a test fixture, never a real secret


@dataclass
class Inbox:
    port: int
    mails: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    authenticated: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        self.authenticated.append(bool(session.authenticated))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        login = data.login.decode() if isinstance(data.login, bytes) else str(data.login)
        password = data.password.decode() if isinstance(data.password, bytes) else str(data.password)
        self.logins.append(login)
        ok = login == USER and password == PASSWORD
        return aiosmtpd_smtp.AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox(_free_port())
    controller = aiosmtpd_controller.Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=box.authenticate,
        auth_require_tls=False,  # plain AUTH on loopback in the test; real servers use TLS
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def smtp(port: int, password: str = PASSWORD, **options: Any) -> SmtpNotifier:
    n = build(
        "smtp",
        f"smtp://127.0.0.1:{port}",
        password,
        username=USER,
        sender="sentinel <sentinel@example.test>",
        to=["pr@example.test", "ops@example.test"],
        **options,
    )
    assert isinstance(n, SmtpNotifier)
    return n


async def test_an_alert_arrives_as_a_plain_mail(inbox: Inbox) -> None:
    n = smtp(inbox.port)
    await n.send([make_event(1, level="red", text="艾克美饮料里喝出了异物")])
    await n.close()
    [(sender, rcpts, msg)] = inbox.mails
    assert inbox.logins == [USER] and inbox.authenticated == [True]
    assert sender == "sentinel@example.test" and rcpts == ["pr@example.test", "ops@example.test"]
    assert "红色预警" in str(msg["Subject"]) and "acme" in str(msg["Subject"])
    body = msg.get_content()
    assert "风险指数" in body and "艾克美饮料里喝出了异物" in body and "https://m.weibo.cn/detail/1" in body


async def test_a_briefing_arrives_as_html_with_a_text_alternative(inbox: Inbox) -> None:
    n = smtp(inbox.port, lang="en")
    html = "<!DOCTYPE html><html><body><h1>舆情日报</h1><svg><text>声量</text></svg></body></html>"
    await n.send_mail(Mail(subject="舆情日报 · acme · 2026-11-28", text="舆情日报 (text)", html=html))
    [(_, _, msg)] = inbox.mails
    assert msg["Subject"] == "舆情日报 · acme · 2026-11-28"
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
    assert parts["text/plain"].strip() == "舆情日报 (text)"
    assert "<svg><text>声量</text></svg>" in parts["text/html"]


async def test_a_wrong_password_is_permanent_and_never_told(
    inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-test-password-91c2"
    n = smtp(inbox.port, password=wrong)
    with pytest.raises(NotifyError) as info:
        await n.send([make_event(2)])
    assert not info.value.retryable and "authentication refused" in str(info.value)
    assert wrong not in str(info.value) and wrong not in caplog.text
    assert inbox.mails == []


async def test_a_server_that_is_not_there_is_worth_retrying() -> None:
    n = smtp(_free_port(), timeout=3)
    with pytest.raises(NotifyError) as info:
        await n.send([make_event(3)])
    assert info.value.retryable and PASSWORD not in str(info.value)


def test_config_errors_name_the_entry() -> None:
    with pytest.raises(ConfigError, match="url: give the user as username"):
        build("smtp", "smtp://user:pw@127.0.0.1:25", None, sender="a@b.test", to=["c@d.test"])
    with pytest.raises(ConfigError, match="to"):
        build("smtp", "smtp://127.0.0.1:25", None, sender="a@b.test", to=[])
    with pytest.raises(ConfigError, match="smtp://host"):
        build("smtp", "https://127.0.0.1", None, sender="a@b.test", to=["c@d.test"])


async def test_through_the_dispatchers_options(inbox: Inbox) -> None:
    n = smtp(inbox.port, rate_limit=["10/h"], max_digest=5)
    assert n.rate_limits == ((10, 3600.0),) and n.max_digest == 5
    await n.send([make_event(4), make_event(5, level="red")])
    [(_, _, msg)] = inbox.mails
    assert "(+1)" in str(msg["Subject"])  # two events, one mail
