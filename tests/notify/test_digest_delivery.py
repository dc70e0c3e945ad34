"""A briefing delivered: mailed as HTML through a real SMTP server (aiosmtpd on 127.0.0.1) and
announced as a signed card with a link on DingTalk and Feishu stand-ins."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from fake_services import FakeDingTalk, FakeFeishu

from sentinel.clock import ManualClock
from sentinel.config import config_from_dict
from sentinel.digest import run_digest
from sentinel.notify import build_notifiers
from sentinel.notify.briefing import BriefingCard, card_payload
from sentinel.obs.metrics import Metrics
from sentinel.post import Author, Post, ScoredPost
from sentinel.store.sql import SqlStore

controller_mod = pytest.importorskip("aiosmtpd.controller")
T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


class Inbox:
    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        self.mails.append(msg)
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    box = Inbox()
    controller = controller_mod.Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def dingtalk() -> Iterator[FakeDingTalk]:
    s = FakeDingTalk()
    yield s
    s.close()


@pytest.fixture
def feishu() -> Iterator[FakeFeishu]:
    s = FakeFeishu()
    yield s
    s.close()


def _post(i: int, when: datetime, text: str) -> ScoredPost:
    p = Post(
        "weibo", f"d{i}", text, when, Author(f"u{i}", f"用户{i}", 1000), url=f"https://m.weibo.cn/detail/d{i}"
    )
    negative = "异物" in text
    return ScoredPost(p, 0.9 if negative else 0.1, "negative" if negative else "neutral", {})


async def test_a_briefing_goes_by_mail_and_as_cards(
    store: SqlStore, inbox: tuple[Inbox, int], dingtalk: FakeDingTalk, feishu: FakeFeishu, tmp_path: Path
) -> None:
    posts = [
        _post(i, T0 - timedelta(hours=20) + i * timedelta(minutes=10), "艾克美咖啡很好喝") for i in range(30)
    ]
    posts += [
        _post(100 + i, T0 - timedelta(hours=3) + i * timedelta(minutes=1), f"艾克美饮料喝出异物 {i}")
        for i in range(20)
    ]
    await store.write_batch([(sp, "test") for sp in posts], [], model="t", now=T0)
    box, port = inbox
    cfg = config_from_dict(
        {
            "storage": {"url": "sqlite:///unused.db"},
            "watch": [{"name": "acme", "query": "艾克美"}],
            "notify": [
                {"type": "dingtalk", "url": dingtalk.url, "secret": dingtalk.secret},
                {"type": "feishu", "url": feishu.url, "secret": feishu.secret},
                {
                    "type": "smtp",
                    "name": "mail",
                    "url": f"smtp://127.0.0.1:{port}",
                    "sender": "sentinel@example.test",
                    "to": ["pr@example.test"],
                },
            ],
            "digest": [
                {
                    "name": "daily",
                    "schedule": "0 9 * * *",
                    "watches": ["acme"],
                    "out": str(tmp_path / "out"),
                    "link_base": "https://intranet.example.test/digests",
                }
            ],
        }
    )
    clock = ManualClock(T0)
    notifiers = build_notifiers(cfg.notifiers, clock=clock, metrics=Metrics())
    try:
        run = await run_digest(cfg, cfg.digests[0], store, clock, notifiers)
    finally:
        for n in notifiers:
            await n.close()
    assert run.failed == {} and run.sent == ["dingtalk", "feishu", "mail"]
    link = "https://intranet.example.test/digests/daily-20261128-0900.html"
    assert run.path == tmp_path / "out" / "daily-20261128-0900.html" and run.path.exists()

    [d] = dingtalk.arrivals  # accepted: its signature checked out
    text = d.body["markdown"]["text"]
    assert "舆情日报" in d.body["markdown"]["title"]
    # (chat text is neutralised like an alert's: full-width punctuation folds to ASCII)
    assert "帖子 50 条（环比 新增）" in text and "负面 40.0%" in text and f"[查看完整简报]({link})" in text
    assert "热词:异物" in text
    [f] = feishu.arrivals
    button = f.body["card"]["elements"][-1]["actions"][0]
    assert button["url"] == link and button["text"]["content"] == "查看完整简报"

    [mail] = box.mails
    assert str(mail["Subject"]).startswith("舆情日报 · acme")
    parts = {p.get_content_type(): p.get_content() for p in mail.iter_parts()}
    assert "acme：帖子 50 条" in parts["text/plain"] and link in parts["text/plain"]
    sent_html = parts["text/html"].replace("\r\n", "\n")  # SMTP lines end in CRLF
    assert sent_html == run.path.read_text(encoding="utf-8")  # the whole briefing, inline
    assert 'id="chart-volume-acme"' in sent_html and "异物" in sent_html


def test_card_text_from_strangers_is_neutralised() -> None:
    card = BriefingCard(
        "日报 [x](javascript:alert(1))", ["热词：@all <b>x</b>"], "javascript:alert(1)", "查看"
    )
    body = card_payload("dingtalk", card)
    assert body is not None
    text = body["markdown"]["text"]
    assert "javascript:" not in text and "<b>" not in text and "@all" not in text
    assert card_payload("console", card) is None
