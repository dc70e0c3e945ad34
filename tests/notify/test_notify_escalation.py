"""Escalation and the console link, against the real fake DingTalk and WeCom servers (they
check signatures and keys as the services do) and a real store."""

from __future__ import annotations

import json
from datetime import timedelta

from fake_services import FakeDingTalk, FakeWeCom
from notify_support import T0, build, make_event

from sentinel.alerting.manage import AlertManager
from sentinel.clock import ManualClock
from sentinel.notify.dispatcher import Dispatcher
from sentinel.obs.metrics import Metrics
from sentinel.store.sql import SqlStore

PUBLIC = "https://sentinel.example.com"


def _bodies(service: FakeDingTalk | FakeWeCom) -> list[str]:
    with service.lock:
        return [json.dumps(a.body, ensure_ascii=False) for a in service.arrivals]


async def test_unacknowledged_alert_is_handed_to_the_second_channel(
    store: SqlStore, metrics: Metrics
) -> None:
    dingtalk, wecom = FakeDingTalk(), FakeWeCom()
    try:
        first = build(
            "dingtalk", dingtalk.url, dingtalk.secret, name="pr", escalate_after="30m", escalate_to="oncall"
        )
        second = build("wecom", wecom.url, name="oncall", min_level="red")
        clock = ManualClock(T0)
        d = Dispatcher([first, second], store, clock, metrics, public_url=PUBLIC + "/", poll_interval=0.05)
        # two alerts on two watches, both orange: the on-call channel (red and up) hears of neither
        await store.save_events([make_event(0, watch="acme"), make_event(1, watch="beta")], d.channels_for)
        await d.start()
        try:
            assert await d.drain(10)
            cards = _bodies(dingtalk)
            assert len(cards) == 2 and f"{PUBLIC}/alerts/1" in cards[0] and f"{PUBLIC}/alerts/2" in cards[1]
            assert _bodies(wecom) == []
            await AlertManager(store, clock).ack(2, actor="wang.li", note="接手")

            clock.advance_to(T0 + timedelta(minutes=20))
            assert await d.escalate_due() == []  # not yet
            clock.advance_to(T0 + timedelta(minutes=31))
            # the dispatcher's own round (every 50 ms) may get there first; either way the
            # round that sent it has finished when this one returns (one round at a time)
            assert await d.escalate_due() in ([(1, "oncall")], [])
            [card] = _bodies(wecom)  # alert 1 only: alert 2 was acknowledged
            assert "艾克美" in card and f"{PUBLIC}/alerts/1" in card
            assert await d.escalate_due() == []  # once
        finally:
            await d.stop(2)
        # a restarted process (or another one on the same store) does not send it again
        again = Dispatcher(
            [build("dingtalk", dingtalk.url, dingtalk.secret, name="pr", escalate_after="30m", escalate_to="oncall"),
             build("wecom", wecom.url, name="oncall")], store, clock, metrics,
        )  # fmt: skip
        assert await again.escalate_due() == []
        trail = await store.audit_trail(target="alert:1")
        assert [(e.action, e.data["to"]) for e in trail] == [("alert.escalate", "oncall")]
        assert len(_bodies(wecom)) == 1
    finally:
        dingtalk.close()
        wecom.close()


async def test_escalation_waits_while_the_second_channel_fails(store: SqlStore, metrics: Metrics) -> None:
    dingtalk, wecom = FakeDingTalk(), FakeWeCom()
    try:
        first = build(
            "dingtalk", dingtalk.url, dingtalk.secret, name="pr", escalate_after="10m", escalate_to="oncall"
        )
        broken = build("wecom", wecom.url.replace("wc-key", "wrong-key"), name="oncall")
        clock = ManualClock(T0 + timedelta(hours=1))
        d = Dispatcher([first, broken], store, clock, metrics)
        await store.save_events([make_event(0)], d.channels_for)
        assert await d.escalate_due() == []  # refused by the service: not recorded, tried again later
        assert await store.audit_trail(target="alert:1") == []
        fixed = Dispatcher([first, build("wecom", wecom.url, name="oncall")], store, clock, metrics)
        assert await fixed.escalate_due() == [(1, "oncall")]
    finally:
        dingtalk.close()
        wecom.close()
