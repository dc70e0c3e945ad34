"""Email: alerts as plain-text mails, briefings (日报 / 周报) as HTML mails, over SMTP.

``[[notify]] type = "smtp"``::

    [[notify]]
    type = "smtp"
    name = "pr-mail"
    url = "smtp://smtp.example.com:587"       # smtp:// (STARTTLS when offered) or smtps:// (TLS)
    username = "sentinel@example.com"
    secret = "env:SENTINEL_SMTP_PASSWORD"     # the password: from the environment, never the file
    sender = "sentinel <sentinel@example.com>"
    to = ["pr-team@example.com"]
    min_level = "orange"

Python's own :mod:`smtplib`, run in a worker thread, rather than an asyncio SMTP client: it
handles STARTTLS, implicit TLS and AUTH as mail servers expect, costs no dependency, and a
team sends a handful of mails a day, so a thread per mail is nothing. The password is never
logged: it is registered with the log redactor and left out of every error message.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from sentinel.clock import Clock
from sentinel.config import NotifyConfig, parse_options
from sentinel.notify.base import NotifyError
from sentinel.notify.message import Templates, event_view
from sentinel.notify.ratelimit import parse_rate
from sentinel.notify.sanitize import redact_text
from sentinel.obs.logs import register_secret
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent

__all__ = ["Mail", "SmtpNotifier", "SmtpOptions"]


class SmtpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str | None = None
    sender: str = Field(min_length=3, description="the From address")
    to: list[str] = Field(min_length=1, description="recipients")
    lang: Literal["zh", "en"] = "zh"
    templates: str | None = None
    timeout: float = Field(20.0, gt=0)
    starttls: bool = True  # for smtp://: upgrade when the server offers it (required if it does)
    rate_limit: list[str] | None = Field(None, description='e.g. ["10/h"]; default: none')
    max_digest: int = Field(20, ge=1, le=200, description="alert events per mail at most")


class Mail(BaseModel):
    """One mail: a subject, a plain-text body and optionally an HTML alternative."""

    model_config = ConfigDict(frozen=True)

    subject: str
    text: str
    html: str | None = None


class SmtpNotifier:
    """Sends alert events (and briefings, :meth:`send_mail`) to a list of addresses."""

    def __init__(self, config: NotifyConfig, *, clock: Clock, metrics: Metrics) -> None:
        self.config = config
        self.channel = config.channel
        self.clock = clock
        self.metrics = metrics
        self.options = parse_options(SmtpOptions, config.options)
        if not config.url:
            raise ValueError("url: required, e.g. smtp://smtp.example.com:587 or smtps://smtp.example.com")
        parts = urlsplit(config.url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                f"url: must be smtp://host[:port] or smtps://host[:port], got {parts.scheme}://…"
            )
        if parts.username or parts.password:
            raise ValueError("url: give the user as username and the password as secret, not in the url")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 587)
        self.password = config.secret or None
        if self.password and not self.options.username:
            raise ValueError("username: required with a password (secret)")
        register_secret(self.password)
        self.templates = Templates.load(self.options.lang, self.options.templates)
        self.rate_limits = tuple(parse_rate(r) for r in self.options.rate_limit or ())
        self.max_digest = self.options.max_digest

    def __repr__(self) -> str:
        return f"SmtpNotifier(channel={self.channel!r}, host={self.host!r}, port={self.port})"

    # -- alerts ---------------------------------------------------------------------------------

    def alert_mail(self, events: Sequence[AlertEvent]) -> Mail:
        tpl = self.templates
        views = [event_view(e, tpl, clean=_plain) for e in events]
        lines: list[str] = []
        for v in views:
            lines += [v.title, v.risk_line, v.at_line]
            if v.previous_line:
                lines.append(v.previous_line)
            if v.acked_line:
                lines.append(v.acked_line)
            if v.factor_lines:
                lines += ["", v.factors_heading, *(f"  - {f}" for f in v.factor_lines)]
            if v.samples:
                lines += ["", v.samples_heading]
                lines += [f"  > {s.line}" + (f"\n    {s.url}" if s.url else "") for s in v.samples]
            lines += ["", "—" * 20, ""]
        lines.append(views[0].footer if views else tpl.text("footer"))
        subject = views[0].title if len(views) == 1 else f"{views[-1].title} (+{len(views) - 1})"
        return Mail(subject=subject, text="\n".join(lines))

    async def send(self, events: Sequence[AlertEvent]) -> None:
        if events:
            await self.send_mail(self.alert_mail(events))

    # -- any mail -------------------------------------------------------------------------------

    def message(self, mail: Mail) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = _header(mail.subject)
        msg["From"] = self.options.sender
        msg["To"] = ", ".join(self.options.to)
        msg["Date"] = formatdate(self.clock.now().timestamp(), localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.options.sender.rsplit("@", 1)[-1].strip("> ") or None)
        msg.set_content(mail.text, charset="utf-8")
        if mail.html is not None:
            msg.add_alternative(mail.html, subtype="html", charset="utf-8")
        return msg

    async def send_mail(self, mail: Mail) -> None:
        """Send ``mail``; raise :class:`NotifyError` (retryable unless the server said no for good)."""
        msg = self.message(mail)
        try:
            await asyncio.to_thread(self._deliver, msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(
                f"{self.channel}: authentication refused ({exc.smtp_code})", retryable=False
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifyError(
                f"{self.channel}: recipients refused: {', '.join(sorted(exc.recipients))}", retryable=False
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx: try again later; 5xx: the server will not take this mail
            detail = redact_text(_decode(exc.smtp_error))[:200]
            raise NotifyError(
                f"{self.channel}: SMTP {exc.smtp_code}: {detail}", retryable=400 <= exc.smtp_code < 500
            ) from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS failure, dropped
            raise NotifyError(
                f"{self.channel}: {type(exc).__name__}: {redact_text(str(exc))[:200]}", retryable=True
            ) from None

    def _deliver(self, msg: EmailMessage) -> None:
        context = ssl.create_default_context()
        timeout = self.options.timeout
        client: smtplib.SMTP = (
            smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=context)
            if self.tls
            else smtplib.SMTP(self.host, self.port, timeout=timeout, local_hostname=_fqdn())
        )
        with client:
            client.ehlo()
            if not self.tls and self.options.starttls and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            if self.password is not None and self.options.username:
                client.login(self.options.username, self.password)
            client.send_message(msg)

    async def close(self) -> None:
        """Nothing stays open between mails."""


def _plain(value: object, limit: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(text: str) -> str:
    return " ".join(text.split())[:200]  # no newline can end a header early


def _decode(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _fqdn() -> str:
    try:
        return socket.getfqdn()
    except OSError:
        return "localhost"
