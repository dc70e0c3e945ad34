"""Logging setup: plain or JSON lines, context fields, and secrets masked before they are written.

Context travels in ``extra=``; those fields become JSON keys (or ``key=value`` in plain mode)::

    log.info("fetched %d posts", n, extra={"source": "weibo-acme", "post_id": "4951234567890123"})
    # {"ts":"2026-11-28T05:00:00.123Z","level":"INFO","logger":"sentinel.sources.weibo",
    #  "msg":"fetched 12 posts","source":"weibo-acme","post_id":"4951234567890123"}

Webhook URLs, access tokens and DSN passwords end up in log lines through exception messages
(httpx puts the URL in every error), so every record that reaches the sentinel handler is
redacted: ``access_token=***``, ``postgresql://user:***@host``, ``/hook/***``.

This module is the project's one redactor: :func:`redact` for free text, :func:`redact_url`
for one URL. Patterns catch the well-known shapes; a secret with no recognisable shape (a
generic webhook whose token is a path segment, ``/notify/whtok…``) is masked because the
notifier that holds it registers it with :func:`register_secret` / :func:`register_url`.
httpx and httpcore log each request URL; their loggers carry the same filter, so those
lines are redacted even where :func:`setup_logging` was not called.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from sentinel.config import LoggingConfig

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "PlainFormatter",
    "RedactingFilter",
    "alert_event_fields",
    "redact",
    "redact_url",
    "register_secret",
    "register_url",
    "setup_logging",
]

CONTEXT_FIELDS = ("source", "watch", "post_id", "channel", "platform", "alert_id", "event", "alert_level")
"""Context keys the code base uses; any other ``extra=`` key is kept too."""

MASK = "***"

# attributes every LogRecord has; anything else on a record came from ``extra=``
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's own copy of the message with terminal colours
}

_SECRET_KEYS = (
    r"access_token|accesstoken|token|key|api_key|apikey|secret|client_secret|app_secret|"
    r"sign|signature|sig|password|passwd|pwd|auth|ticket"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # query strings and form bodies: ?access_token=…&sign=…  (also key: value in JSON-ish text)
    (re.compile(rf"(?i)(?<![\w-])({_SECRET_KEYS})(=|%3D)[^&\s\"'<>#,;]+"), rf"\1\2{MASK}"),
    (re.compile(rf"(?i)([\"']?(?:{_SECRET_KEYS})[\"']?\s*:\s*[\"'])[^\"']+([\"'])"), rf"\1{MASK}\2"),
    # user:password@ in DSNs and URLs (postgresql://, mqtt://, redis://, https://)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"), rf"\1{MASK}@"),
    # webhook paths whose last segments are the credential
    (re.compile(r"(?i)(hooks\.slack\.com/services/)[\w/]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)(/open-apis/bot/v2/hook/)[\w-]+"), rf"\1{MASK}"),  # Feishu / Lark
    (re.compile(r"(?i)(/api/webhooks/\d+/)[\w-]+"), rf"\1{MASK}"),  # Discord-style
    (re.compile(r"(?i)(/hooks?/)[A-Za-z0-9_-]{16,}"), rf"\1{MASK}"),  # generic long hook tokens
    # Authorization headers and bearer tokens quoted in errors
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
)


_SECRET_PARAMS = frozenset(_SECRET_KEYS.split("|")) | {"pass_ticket", "accesskey", "access_key"}
# webhook paths whose last segment(s) are the credential, as URL paths (see _PATTERNS)
_SECRET_PATH = re.compile(
    r"(?P<keep>/services/|/hooks?/|/webhook/send/|/robot/send/|/bot/v\d+/hook/|/api/webhooks/\d+/)"
    r"(?P<secret>[^?#\s\"']+)"
)
_MIN_SECRET = 6  # shorter registered values would mask ordinary words
_known: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: object) -> None:
    """Mask ``value`` wherever it appears in a redacted text from now on (too short: ignored)."""
    if not isinstance(value, str) or len(value) < _MIN_SECRET:
        return
    with _known_lock:
        _known.update({value, unquote(value)} - {""})


def register_url(url: object) -> None:
    """Register what in ``url`` may be a credential: its password, its query values, and the
    path segments that look like tokens (at least 8 characters with a digit, or 16 or more)."""
    if not isinstance(url, str):
        return
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    register_secret(password)
    for _, value in parse_qsl(parts.query, keep_blank_values=False):
        register_secret(value)
    for segment in parts.path.split("/"):
        if len(segment) >= 16 or (len(segment) >= 8 and any(c.isdigit() for c in segment)):
            register_secret(segment)


def _mask_known(text: str) -> str:
    if not _known:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)  # longest first: no partial leftovers
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(text: str) -> str:
    """Mask credentials in ``text`` (URLs, DSNs, webhook paths, bearer tokens, registered secrets)."""
    text = _mask_known(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: object) -> str:
    """One URL for messages and logs: credentials, secret-looking query values, webhook path
    tokens and registered secrets masked; other query values (a search keyword) kept."""
    s = str(url)
    try:
        parts = urlsplit(s)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    path = _SECRET_PATH.sub(lambda m: m.group("keep") + MASK, parts.path)
    query = urlencode(
        [
            (k, MASK if k.lower() in _SECRET_PARAMS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return _mask_known(urlunsplit((parts.scheme, netloc, path, query, "")))


class RedactingFilter(logging.Filter):
    """Rewrites each record so that its message, context and traceback carry no secrets.

    It is attached to the handler, so it sees records from every library (httpx, aiomqtt,
    SQLAlchemy), not only sentinel's own loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format in some library must not lose the line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # the redacted text is what formatters print
        for key, value in _context(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def _install_library_filters() -> None:
    # httpx logs "HTTP Request: POST <url>" at INFO; the URL may carry a webhook's token
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


_install_library_filters()


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    # logging is an OS edge: the record's own wall-clock time, in UTC
    ts = datetime.fromtimestamp(record.created, UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, context, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _context(record).items():
            # context never overwrites the line's own keys; a "level" in context is a warning level
            if key in entry:
                key = "alert_level" if key == "level" else f"extra_{key}"
            entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """``2026-11-28T05:00:00.123Z INFO sentinel.x: message source=weibo-acme watch=acme``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        context = _context(record)
        if context:
            line += " " + " ".join(f"{k}={_plain_value(v)}" for k, v in context.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _plain_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in ' "=\n')) else text


class _SentinelHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Marks the handler ``setup_logging`` installed, so a second call replaces it."""


# chatty libraries: their INFO lines are per-request / per-job noise in a daemon's log
_QUIET = ("httpx", "httpcore", "apscheduler", "aiosqlite", "asyncio", "alembic", "paho")


def setup_logging(config: LoggingConfig, *, stream: TextIO | None = None) -> logging.Handler:
    """Configure the root logger from ``[logging]``: level, plain or JSON lines, redaction.

    Safe to call more than once (tests, reloads): the previous sentinel handler is replaced,
    handlers others installed (pytest's capture) are left alone. Returns the handler.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _SentinelHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _SentinelHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if config.json_format else PlainFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    _install_library_filters()
    level = logging.getLevelName(config.level)
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
    return handler


def alert_event_fields(event: Any) -> dict[str, Any]:
    """``extra=`` for the one INFO line per alert event (an ``AlertEvent`` or its record dict).

    ``log.info("alert %s", ev.event, extra=alert_event_fields(ev))`` gives a line a log
    pipeline can alert on without parsing the message.
    """
    record = event.to_json() if hasattr(event, "to_json") else dict(event)
    fields = {
        "event": record.get("event"),
        "watch": record.get("watch"),
        "alert_level": record.get("level"),  # "level" is the log line's own level
        "risk": record.get("risk"),
        "at": record.get("at"),
        "alert_id": getattr(event, "alert_id", None) if hasattr(event, "to_json") else record.get("alert_id"),
        "posts": len(record.get("posts") or []),
    }
    return {k: v for k, v in fields.items() if v is not None}
