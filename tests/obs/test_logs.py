"""Log setup: JSON and plain lines, context fields, redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sentinel.config import LoggingConfig
from sentinel.obs import logs
from sentinel.obs.logs import alert_event_fields, redact, setup_logging
from sentinel.risk.base import AlertEvent


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logs._QUIET}
    yield
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)


def lines(buf: io.StringIO) -> list[str]:
    return buf.getvalue().splitlines()


def test_public_surface() -> None:
    assert "setup_logging" in logs.__all__
    assert "redact" in logs.__all__


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abc123def&timestamp=1&sign=xY%2Bz%3D",
            "abc123def",
            "timestamp=1",
        ),
        ("https://oapi.dingtalk.com/robot/send?access_token=abc&sign=xY2BzQ", "xY2BzQ", "access_token=***"),
        (
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4",
            "693a91f6",
            "webhook/send?key=***",
        ),
        ("postgresql://sentinel:s3cr3t@db:5432/sentinel", "s3cr3t", "postgresql://sentinel:***@db:5432"),
        ("postgresql+asyncpg://u:p%40ss@db/x", "p%40ss", "u:***@db"),
        ("mqtt://bus:hunter2@broker:1883", "hunter2", "mqtt://bus:***@broker"),
        (
            "https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ",
            "XXXXyyyyZZZZ",
            "hooks.slack.com/services/***",
        ),
        ("https://open.feishu.cn/open-apis/bot/v2/hook/0b1c2d3e-aaaa-bbbb", "0b1c2d3e", "/hook/***"),
        ("https://open.larksuite.com/open-apis/bot/v2/hook/0b1c2d3e-aaaa", "0b1c2d3e", "larksuite.com"),
        ("https://example.com/hooks/abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop", "/hooks/***"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGci", "Authorization: ***"),
        ("got 401 for bearer abcdefgh12345678", "abcdefgh12345678", "bearer ***"),
        ('{"password": "hunter2", "user": "bob"}', "hunter2", '"user": "bob"'),
        ("https://x/api?api_key=K123&q=acme", "K123", "q=acme"),
    ],
)
def test_redact(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "design=ok monkey=1 keyword=acme",
        "艾克美 负面 舆情 key points",
        "https://m.weibo.cn/detail/4951234567890123",
    ],
)
def test_redact_leaves_ordinary_text(text: str) -> None:
    assert redact(text) == text


def test_json_lines_with_context(restore_root: None) -> None:
    buf = io.StringIO()
    setup_logging(LoggingConfig(json=True), stream=buf)
    log = logging.getLogger("sentinel.sources.weibo")
    log.info("fetched %d posts", 12, extra={"source": "weibo-acme", "post_id": "4951", "watch": "acme"})
    log.debug("hidden at INFO")
    (line,) = lines(buf)
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "sentinel.sources.weibo"
    assert entry["msg"] == "fetched 12 posts"
    assert (entry["source"], entry["post_id"], entry["watch"]) == ("weibo-acme", "4951", "acme")
    ts = datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - ts).total_seconds()) < 60


def test_secrets_are_masked_in_message_args_context_and_tracebacks(restore_root: None) -> None:
    buf = io.StringIO()
    setup_logging(LoggingConfig(json=True), stream=buf)
    log = logging.getLogger("httpx")  # library loggers go through the same handler
    log.warning(
        "POST %s failed",
        "https://oapi.dingtalk.com/robot/send?access_token=SECRET1",
        extra={"url": "a?sign=SECRET2"},
    )
    try:
        raise ConnectionError("cannot reach postgresql://sentinel:SECRET3@db/sentinel")
    except ConnectionError:
        logging.getLogger("sentinel.store").exception("store down")
    out = buf.getvalue()
    for secret in ("SECRET1", "SECRET2", "SECRET3"):
        assert secret not in out
    first, second = (json.loads(x) for x in lines(buf))
    assert first["url"] == "a?sign=***"
    assert "ConnectionError" in second["exc"]
    assert "sentinel:***@db" in second["exc"]


def test_plain_lines(restore_root: None) -> None:
    buf = io.StringIO()
    setup_logging(LoggingConfig(level="DEBUG"), stream=buf)
    logging.getLogger("sentinel.x").debug("scored", extra={"watch": "acme corp", "channel": "dingtalk"})
    (line,) = lines(buf)
    assert line.endswith('DEBUG sentinel.x: scored watch="acme corp" channel=dingtalk')


def test_level_from_config_and_setup_twice_replaces_the_handler(restore_root: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging(LoggingConfig(level="INFO"), stream=first)
    setup_logging(LoggingConfig(level="WARNING", json=True), stream=second)
    log = logging.getLogger("sentinel.y")
    log.info("dropped")
    log.warning("kept")
    assert first.getvalue() == ""
    assert [json.loads(x)["msg"] for x in lines(second)] == ["kept"]
    # noisy libraries are quiet unless DEBUG is asked for
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING


def test_bad_format_args_do_not_lose_the_line() -> None:
    record = logging.LogRecord("lib", logging.WARNING, __file__, 1, "%d items at %s", ("x", "?key=K"), None)
    assert logs.RedactingFilter().filter(record)
    assert "items" in record.getMessage()
    assert "K'" not in record.getMessage()


def test_one_line_per_alert_event(restore_root: None) -> None:
    buf = io.StringIO()
    setup_logging(LoggingConfig(json=True), stream=buf)
    event = AlertEvent(
        event="escalated",
        watch="acme",
        level="orange",
        risk=71.26,
        at=datetime(2026, 11, 28, 5, 0, tzinfo=UTC),
        posts=["1", "2"],
        alert_id=9,
    )
    logging.getLogger("sentinel.pipeline").info("alert %s", event.event, extra=alert_event_fields(event))
    (entry,) = (json.loads(x) for x in lines(buf))
    assert entry["level"] == "INFO"
    assert (entry["event"], entry["watch"], entry["alert_level"], entry["risk"]) == (
        "escalated",
        "acme",
        "orange",
        71.3,
    )
    assert (entry["alert_id"], entry["posts"]) == (9, 2)
    assert alert_event_fields(event.to_json())["alert_level"] == "orange"
