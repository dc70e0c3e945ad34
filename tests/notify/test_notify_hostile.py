"""Hostile post text and author names, through the real risk engine, the store and the
outbox, to every channel.

Whatever a stranger writes, no channel's payload may carry a mention, a link, an image,
HTML or a forged heading that came from the post.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fake_services import FakeDingTalk, FakeFeishu, FakeService, FakeSlack, FakeWebhook, FakeWeCom
from prometheus_client import CollectorRegistry

from sentinel.clock import SystemClock
from sentinel.config import NotifyConfig, StorageConfig, config_from_dict
from sentinel.nlp.base import sentiment_label
from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.notify import build_notifiers
from sentinel.notify.dispatcher import Dispatcher
from sentinel.obs.metrics import Metrics
from sentinel.post import ScoredPost, parse_post
from sentinel.risk import build_risk_engine
from sentinel.risk.base import AlertEvent
from sentinel.simulate.scenario import generate
from sentinel.store.sql import SqlStore

HOSTILE_TEXT = (
    "艾克美出事了 <!channel> <!here> <!everyone> <@U024BE7LH> <!subteam^S123> @all @所有人 ＠所有人 "
    '<at user_id="all">所有人</at> <at id=all></at> <@zhangsan> [点我领奖](https://evil.example/phish) '
    "![img](https://evil.example/x.png) <img src=x onerror=alert(1)> <a href='https://evil.example'>x</a> "
    '<script>alert(1)</script> <font color="warning">假通知</font> **粗体** `code` ~~删除~~ '
    "\n### 伪造标题\n> 伪造引用\n- 伪造列表 &lt;!channel&gt; https://evil.example/bare @\u200ball "
    "\u202egnp.exe <https://evil.example|click>"
)
HOSTILE_AUTHOR = "<!channel>@所有人[官方](https://evil.example)"

# Markup that could only have come from the post: our own templates never produce these.
FORBIDDEN = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam",
    "<@U024BE7LH>",
    "<@zhangsan>",
    "@all",
    "@所有人",
    "<at ",
    "</at>",
    "](https://evil",
    "![",
    "<img",
    "<a ",
    "<script",
    '<font color="warning">假',
    "**粗体**",
    "`code`",
    "~~",
    "### 伪造",
    "\n> 伪造",
    "\n- 伪造",
    "&lt;!channel&gt;",
    "https://evil",
    "<https://evil",
    "\u202e",
    "\u200b",
]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _real_alerts() -> list[AlertEvent]:
    """The demo crisis through the lexicon classifier and the real risk engine, every post
    and author name made hostile first."""
    start = datetime.fromisoformat("2026-11-28T12:00:00+08:00")
    records = list(generate("demo", start=start, seed=0))
    for r in records:
        r["text"] = f"{r['text']} {HOSTILE_TEXT}"
        r["author"]["name"] = HOSTILE_AUTHOR
    posts = [parse_post(r) for r in records]
    scores = LexiconClassifier().classify([p.text for p in posts])
    scored = [
        ScoredPost(p, s.negative, sentiment_label(s.negative), dict(s.topics))
        for p, s in zip(posts, scores, strict=True)
    ]
    engine = build_risk_engine(config_from_dict({"watch": [{"name": "艾克美", "query": "艾克美 OR ACME"}]}))
    events: list[AlertEvent] = []
    for i in range(0, len(scored), 200):
        engine.observe(scored[i : i + 200])
        events += engine.evaluate(scored[min(i + 199, len(scored) - 1)].post.created_at)
    return events


async def test_no_mention_or_markup_survives_in_any_channel(tmp_path: Path) -> None:
    events = _real_alerts()
    assert events and all(HOSTILE_AUTHOR in {s["author"] for s in e.samples} for e in events)
    # what else a stranger might control: the post URL, and a name that acknowledges (issue 9)
    events[-1].factors["acked_by"] = "<@U024BE7LH> @all"
    events[0].samples[:0] = [
        {
            "id": "p2",
            "text": HOSTILE_TEXT[::-1],
            "author": "@所有人",
            "url": "javascript:alert(1)//https://m.weibo.cn",
        },
        {
            "id": "p3",
            "text": "ok",
            "author": "x",
            "url": "https://m.weibo.cn/a)[x](https://attacker.example/b",
        },
    ]
    services: dict[str, FakeService] = {
        "dingtalk": FakeDingTalk(),
        "feishu": FakeFeishu(),
        "wecom": FakeWeCom(),
        "slack": FakeSlack(per_second=20),
        "webhook": FakeWebhook(),
    }
    metrics = Metrics(CollectorRegistry())
    store = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path / 'sentinel.db'}"), metrics)
    await store.open()
    try:
        configs = [
            NotifyConfig.model_validate(
                {
                    "type": kind,
                    "url": s.url,
                    "secret": getattr(s, "secret", None),  # type: ignore[attr-defined]
                    "max_samples": 5,
                    "rate_limit": ["20/s"] if kind == "slack" else None,
                }
            )
            for kind, s in services.items()
        ]
        d = Dispatcher(
            build_notifiers(configs, clock=SystemClock(), metrics=metrics), store, SystemClock(), metrics
        )
        await d.start()
        for event in events:  # one at a time, as a slowly growing crisis would: full cards, no digests
            await store.save_events([event], d.channels_for)
            d.wake()
            assert await d.drain(30)
        await d.stop(5)
        counts = await d.counts()
    finally:
        await store.close()
        for s in services.values():
            s.close()

    n = len(events)
    assert {ch: c["sent"] for ch, c in counts.items()} == dict.fromkeys(services, n)
    for kind, service in services.items():
        assert len(service.arrivals) == n, kind
        for arrival in service.arrivals:
            text = "\n".join(_strings(arrival.body))
            raw = arrival.raw.decode()
            for bad in FORBIDDEN:
                assert bad not in text, f"{kind}: {bad!r} survived"
            assert "javascript" not in raw.lower().replace("javascript：", "")  # the scheme is broken
            assert "所有人" in text  # the words are still readable, only inert
    assert services["dingtalk"].arrivals[0].body["at"] == {"atMobiles": [], "isAtAll": False}
    slack_text = json.dumps(services["slack"].arrivals[0].body, ensure_ascii=False)
    assert f"<{events[0].samples[2]['url']}|查看原文>" in slack_text  # our own link still works
    assert "https://m.weibo.cn/a%29%5Bx%5D%28https://attacker.example/b" in slack_text  # encoded, inert
