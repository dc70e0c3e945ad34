"""One redactor for the whole project; a webhook token in a URL path stays out of httpx's
log lines; the webhook payload's post ids are as inert as its text."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from fake_services import FakeWebhook
from notify_support import build, make_event

import sentinel.notify.sanitize as sanitize
import sentinel.obs.logs as logs
import sentinel.sources.http as source_http
from sentinel.config import LoggingConfig

PATH_TOKEN = "whtok-fixture-7c1e"  # shaped like the one the probe found, not a real token


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    s = FakeWebhook(secret=None)
    yield s
    s.close()


def test_there_is_one_redactor() -> None:
    assert sanitize.redact_url is logs.redact_url
    assert sanitize.redact_text is logs.redact
    assert source_http.redact_url is logs.redact_url


async def test_a_path_token_never_reaches_the_log(
    webhook: FakeWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = f"{webhook.base}/notify/{PATH_TOKEN}?token=tk-fixture-55"
    n = build("webhook", url)
    await n.send([make_event(1)])
    await n.close()
    assert len(webhook.arrivals) == 1
    assert "HTTP Request" in caplog.text  # httpx logged the request, through the redactor
    assert PATH_TOKEN not in caplog.text and "tk-fixture-55" not in caplog.text
    assert PATH_TOKEN not in repr(n)


async def test_a_path_token_never_reaches_the_daemons_log_lines(
    webhook: FakeWebhook, restore_root: None
) -> None:
    buf = io.StringIO()
    logs.setup_logging(LoggingConfig(level="DEBUG"), stream=buf)
    n = build("webhook", f"{webhook.base}/notify/{PATH_TOKEN}")
    await n.send([make_event(2)])
    await n.close()
    assert "HTTP Request" in buf.getvalue()
    assert PATH_TOKEN not in buf.getvalue()


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)


async def test_webhook_payload_post_ids_are_neutralised(webhook: FakeWebhook) -> None:
    ev = make_event(3)
    hostile = "<!channel> @all [x](javascript:alert(1))"
    ev.posts = [hostile]
    ev.samples[0]["id"] = hostile
    n = build("webhook", webhook.url)
    await n.send([ev])
    await n.close()
    [a] = webhook.arrivals
    for value in (a.body["posts"][0], a.body["samples"][0]["id"]):
        assert "<" not in value and "@" not in value and "](" not in value and "javascript:" not in value
    raw = build("webhook", webhook.url, raw_text=True)
    await raw.send([ev])
    await raw.close()
    assert webhook.arrivals[1].body["posts"] == [hostile]  # raw_text = true keeps them as they are
