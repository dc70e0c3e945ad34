"""Each notifier against a local stand-in for its service (see fake_services.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fake_services import Answer, Arrival, FakeDingTalk, FakeFeishu, FakeSlack, FakeWebhook, FakeWeCom
from notify_support import build, make_event

from sentinel.config import ConfigError
from sentinel.notify import NOTIFIER_TYPES
from sentinel.notify.base import NotifyError
from sentinel.notify.dingtalk import dingtalk_sign, signed_url


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


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    s = FakeWeCom()
    yield s
    s.close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    s = FakeSlack()
    yield s
    s.close()


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    s = FakeWebhook()
    yield s
    s.close()


# -- DingTalk -----------------------------------------------------------------------------


def test_signed_url_merges_the_query_and_encodes_once() -> None:
    seen_plus = False
    for ts in range(1_700_000_000_000, 1_700_000_000_040):
        url = signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc&x=1", "SECret", ts)
        q = parse_qs(urlsplit(url).query)
        assert q["access_token"] == ["abc"] and q["x"] == ["1"] and q["timestamp"] == [str(ts)]
        assert q["sign"] == [dingtalk_sign("SECret", ts)]  # one decode gives the base64 back
        seen_plus |= "+" in q["sign"][0] or "/" in q["sign"][0]
    assert seen_plus  # the samples include signatures that need percent-encoding


async def test_dingtalk_markdown_signed_with_mentions(dingtalk: FakeDingTalk) -> None:
    n = build("dingtalk", dingtalk.url, dingtalk.secret, mentions=["13800000000"])
    await n.send([make_event(1, level="red")])
    await n.close()
    [a] = dingtalk.arrivals
    assert a.body["msgtype"] == "markdown"
    assert "红色预警" in a.body["markdown"]["title"]
    text = a.body["markdown"]["text"]
    assert (
        "风险指数：64/100" in text
        and "@13800000000" in text
        and "[查看原文](https://m.weibo.cn/detail/1)" in text
    )
    assert a.body["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}


async def test_dingtalk_no_mentions_below_mention_level(dingtalk: FakeDingTalk) -> None:
    n = build("dingtalk", dingtalk.url, dingtalk.secret, mentions=["13800000000"], style="actioncard")
    await n.send([make_event(1, level="yellow")])
    await n.close()
    [a] = dingtalk.arrivals
    assert (
        a.body["msgtype"] == "actionCard"
        and a.body["actionCard"]["singleURL"] == "https://m.weibo.cn/detail/1"
    )
    assert a.body["at"]["atMobiles"] == [] and "@138" not in a.body["actionCard"]["text"]


async def test_dingtalk_wrong_secret_is_permanent(dingtalk: FakeDingTalk) -> None:
    n = build("dingtalk", dingtalk.url, "SECwrong")
    with pytest.raises(NotifyError) as info:
        await n.send([make_event(1)])
    await n.close()
    assert not info.value.retryable
    assert "310000" in str(info.value) and "sign not match" in str(info.value)
    assert dingtalk.arrivals == [] and "SECwrong" not in str(info.value)


async def test_dingtalk_over_20_a_minute_is_throttled_and_retryable(dingtalk: FakeDingTalk) -> None:
    n = build("dingtalk", dingtalk.url, dingtalk.secret)
    for i in range(20):
        await n.send([make_event(i)])
    with pytest.raises(NotifyError) as info:
        await n.send([make_event(20)])
    await n.close()
    assert info.value.retryable and info.value.retry_after == 600.0 and "130101" in str(info.value)
    assert len(dingtalk.arrivals) == 20


async def test_secrets_never_reach_logs_or_errors(
    dingtalk: FakeDingTalk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    n = build("dingtalk", dingtalk.url, dingtalk.secret)
    await n.send([make_event(1)])
    bad = build("dingtalk", dingtalk.url.replace(dingtalk.token, "dt-token-unknown"), dingtalk.secret)
    with pytest.raises(NotifyError) as info:
        await bad.send([make_event(2)])
    dingtalk.down()
    with pytest.raises(NotifyError) as down:
        await n.send([make_event(3)])
    await n.close()
    await bad.close()
    assert down.value.retryable
    logged = caplog.text + str(info.value) + str(down.value) + repr(n)
    assert "HTTP Request" in caplog.text  # httpx did log the request, redacted
    for secret in (dingtalk.token, dingtalk.secret or "", "dt-token-unknown"):
        assert secret not in logged
    assert dingtalk.arrivals[0].query["sign"][0] not in logged


# -- Feishu -------------------------------------------------------------------------------


async def test_feishu_card_signed_in_body(feishu: FakeFeishu) -> None:
    n = build("feishu", feishu.url, feishu.secret, mentions=["ou_abcdef123456"])
    await n.send([make_event(1, level="red", acked_by="王经理")])
    await n.close()
    [a] = feishu.arrivals
    assert a.body["msg_type"] == "interactive" and a.body["timestamp"].isdigit()
    card = a.body["card"]
    assert card["header"]["template"] == "red"
    contents = "\n".join(e["text"]["content"] for e in card["elements"] if e["tag"] == "div")
    assert "已由 王经理 确认处理" in contents and "<at id=ou_abcdef123456></at>" in contents


async def test_feishu_wrong_secret_and_rate_limit(feishu: FakeFeishu) -> None:
    bad = build("feishu", feishu.url, "not-the-secret")
    with pytest.raises(NotifyError) as info:
        await bad.send([make_event(1)])
    await bad.close()
    assert not info.value.retryable and "19021" in str(info.value)
    n = build("feishu", feishu.url, feishu.secret)
    for i in range(5):
        await n.send([make_event(i)])
    with pytest.raises(NotifyError) as fast:
        await n.send([make_event(5)])  # the sixth in one second
    await n.close()
    assert fast.value.retryable and "11232" in str(fast.value)
    assert len(feishu.arrivals) == 5


# -- WeCom --------------------------------------------------------------------------------


async def test_wecom_markdown_fits_4096_bytes(wecom: FakeWeCom) -> None:
    n = build("wecom", wecom.url, max_samples=10, sample_chars=1000, mentions=["zhangsan"])
    ev = make_event(1, level="red")
    ev.samples = [dict(ev.samples[0], text="很长的帖子" * 300, id=str(i)) for i in range(10)]
    await n.send([ev])
    await n.send([make_event(i) for i in range(200)])  # a digest far over the limit
    await n.close()
    assert len(wecom.arrivals) == 2
    for a in wecom.arrivals:
        content = a.body["markdown"]["content"]
        assert len(content.encode()) <= 4096
        assert content.endswith("<@zhangsan>")
    assert "另有" in wecom.arrivals[1].body["markdown"]["content"]


async def test_wecom_bad_key_permanent_and_rate_limit(wecom: FakeWeCom) -> None:
    bad = build("wecom", wecom.url.replace("wc-key", "other"))
    with pytest.raises(NotifyError) as info:
        await bad.send([make_event(1)])
    await bad.close()
    assert not info.value.retryable and "93000" in str(info.value)
    n = build("wecom", wecom.url)
    for i in range(20):
        await n.send([make_event(i)])
    with pytest.raises(NotifyError) as fast:
        await n.send([make_event(20)])
    await n.close()
    assert fast.value.retryable and "45009" in str(fast.value)


# -- Slack --------------------------------------------------------------------------------


async def test_slack_blocks_and_fallback(slack: FakeSlack) -> None:
    n = build("slack", slack.url, lang="en", mentions=["U024BE7LH"])
    await n.send([make_event(1, level="orange")])
    await n.close()
    [a] = slack.arrivals
    assert "ORANGE" in a.body["text"] and "Risk: 64/100" in a.body["text"]
    assert a.body["blocks"][0]["type"] == "header"
    assert a.body["attachments"][0]["color"] == "#FB8C00"
    texts = [b["text"]["text"] for b in a.body["blocks"][1:]]
    assert "<@U024BE7LH>" in texts
    detail = [b for b in a.body["attachments"][0]["blocks"] if b["type"] == "section"]
    assert any("<https://m.weibo.cn/detail/1|open>" in b["text"]["text"] for b in detail)
    assert "13:01 UTC+8" in a.body["blocks"][1]["text"]["text"]


async def test_slack_404_is_permanent_429_is_retryable(slack: FakeSlack) -> None:
    bad = build("slack", slack.base + "/services/T0001/B0001/wrong")
    with pytest.raises(NotifyError) as info:
        await bad.send([make_event(1)])
    await bad.close()
    assert not info.value.retryable and "404" in str(info.value) and "wrong" not in str(info.value)
    n = build("slack", slack.url)
    await n.send([make_event(1)])
    with pytest.raises(NotifyError) as fast:
        await n.send([make_event(2)])
    await n.close()
    assert fast.value.retryable and fast.value.retry_after == 1.0


# -- generic webhook ----------------------------------------------------------------------


async def test_webhook_signed_json(webhook: FakeWebhook) -> None:
    n = build("webhook", webhook.url, webhook.secret)
    ev = make_event(1)
    ev.id = 42
    await n.send([ev])
    bad = build("webhook", webhook.url, "wrong")
    with pytest.raises(NotifyError) as info:
        await bad.send([ev])
    await n.close()
    await bad.close()
    [a] = webhook.arrivals
    assert a.body["event"] == "opened" and a.body["id"] == 42 and a.body["watch"] == "acme"
    assert a.headers["x-sentinel-event-ids"] == "42"
    assert not info.value.retryable and "401" in str(info.value)


# -- configuration ------------------------------------------------------------------------


def test_registry_names_every_channel() -> None:
    assert {"console", "slack", "dingtalk", "feishu", "wecom", "webhook"} <= set(NOTIFIER_TYPES)


def test_config_errors_name_the_entry_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown type 'pager'"):
        build("pager", "https://x")
    with pytest.raises(ConfigError, match=r"notify 'dingtalk'.*colour: unknown option"):
        build("dingtalk", "https://x/robot/send?access_token=1", colour=True)
    with pytest.raises(ConfigError, match="url: required"):
        build("wecom", None)
    with pytest.raises(ConfigError, match="mobile numbers"):
        build("dingtalk", "https://x", mentions=["@all"])
    bad = tmp_path / "t.toml"
    bad.write_text('[text]\nrisk = "风险 $nonsense"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"text\.risk: bad placeholder"):
        build("slack", "https://x", templates=str(bad))


async def test_english_and_user_templates(tmp_path: Path, wecom: FakeWeCom) -> None:
    custom = tmp_path / "mine.toml"
    custom.write_text('[text]\nrisk = "RISK=$risk"\n[level]\norange = "Amber"\n', encoding="utf-8")
    n = build("wecom", wecom.url, lang="en", templates=str(custom))
    await n.send([make_event(1, acked_by="Li Lei")])
    await n.close()
    content = wecom.arrivals[0].body["markdown"]["content"]
    assert "RISK=64" in content and "Amber" in content and "Acknowledged by Li Lei" in content
    assert "Top factors" in content and "风险" not in content


async def test_console_uses_the_templates_and_strips_terminal_controls() -> None:
    import io

    from sentinel.notify.console import ConsoleNotifier

    out = io.StringIO()
    n = build("console", None, lang="en")
    assert isinstance(n, ConsoleNotifier)
    n.stream = out
    await n.send([make_event(1, text="hi \x1b[2J\x07 there", acked_by="Li Lei")])
    text = out.getvalue()
    assert "[ORANGE act] acme · new alert" in text and "Acknowledged by Li Lei" in text
    assert "\x1b" not in text and "\x07" not in text  # colour is off for a StringIO


async def test_every_channel_fits_its_size_limits(
    dingtalk: FakeDingTalk, feishu: FakeFeishu, wecom: FakeWeCom, slack: FakeSlack
) -> None:
    huge = make_event(1, level="red", watch="w" * 300)
    huge.samples = [
        dict(huge.samples[0], text="超长帖子😀" * 2000, author="名" * 500, id=str(i)) for i in range(10)
    ]
    huge.factors.update({f"factor_{i}": {"value": i, "contribution": i} for i in range(20)})
    storm = [make_event(i) for i in range(200)]
    options = {"max_samples": 10, "sample_chars": 1000, "max_factors": 12, "max_digest": 200}
    for kind, service in (("dingtalk", dingtalk), ("feishu", feishu), ("wecom", wecom), ("slack", slack)):
        n = build(kind, service.url, getattr(service, "secret", None), **options)
        await n.send([huge])
        if kind == "slack":
            await asyncio.sleep(1.05)  # Slack's one a second
        await n.send(storm)
        await n.close()
        assert len(service.arrivals) == 2, (kind, service.rejected)
    assert len(dingtalk.arrivals[0].body["markdown"]["text"]) <= 5000
    assert all(len(a.raw) <= 20 * 1024 for a in feishu.arrivals)


def test_check_notifiers_reports_every_bad_entry() -> None:
    from sentinel.config import NotifyConfig
    from sentinel.notify import check_notifiers

    configs = [
        NotifyConfig.model_validate(c)
        for c in (
            {"type": "console"},
            {"type": "slack", "url": "https://hooks.slack.com/services/T/B/x", "mentions": ["@here"]},
            {"type": "wecom", "url": "ftp://x", "name": "w"},
            {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=1", "lang": "fr"},
        )
    ]
    problems = check_notifiers(configs)
    assert len(problems) == 3
    assert problems[0].startswith("notify[1] ('slack')") and "mentions" in problems[0]
    assert problems[1].startswith("notify[2] ('w')") and "http(s)" in problems[1]
    assert problems[2].startswith("notify[3] ('dingtalk')") and "lang" in problems[2]


def test_fit_lines_never_exceeds_the_limit() -> None:
    from sentinel.notify.markdown import fit_lines, utf8_len

    lines = [f"- 第{i}条预警 {'长' * (i % 37)}" for i in range(300)]
    for limit in (5, 40, 100, 333, 1000, 4096):
        for measure in (len, utf8_len):
            out = fit_lines(lines, limit, measure=measure, tail=["<@ops>"], more=lambda n: f"…另有 {n} 条")
            assert measure(out) <= limit or limit < measure("\n<@ops>"), (limit, measure)
            assert out.endswith("<@ops>")


class _DeepAnswer(FakeDingTalk):
    """A proxy in front of DingTalk answering 200 with JSON nested too deeply to decode."""

    def answer(self, a: Arrival) -> Answer:
        return Answer.text(200, "[" * 100_000)

    def accepted(self, answer: Answer) -> bool:
        return False


async def test_an_answer_nested_too_deeply_is_a_retryable_error() -> None:
    service = _DeepAnswer()
    service.up()
    n = build("dingtalk", service.url, service.secret)
    try:
        with pytest.raises(NotifyError) as info:
            await n.send([make_event(1)])
    finally:
        await n.close()
        service.close()
    assert info.value.retryable and "not JSON" in str(info.value)
