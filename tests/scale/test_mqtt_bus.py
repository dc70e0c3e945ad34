"""MqttBus against a real Mosquitto: shared subscriptions, ack after commit, redelivery, restarts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt
import pytest

from sentinel.bus import build_bus
from sentinel.bus.mqtt import MqttBus, MqttEndpoint, Reconnect
from sentinel.config import BusConfig
from sentinel.post import parse_post

from .conftest import eventually
from .support import Broker, record


def _bus(url: str, prefix: str, role: str, client_id: str | None = None, **kw: object) -> MqttBus:
    cfg = BusConfig(type="mqtt", url=url, topic_prefix=prefix, client_id=client_id, **kw)  # type: ignore[arg-type]
    bus = build_bus(cfg, role=role)
    assert isinstance(bus, MqttBus)
    return bus


async def _started(*buses: MqttBus) -> None:
    for b in buses:
        await b.start()
    await asyncio.wait_for(asyncio.gather(*(b.wait_connected() for b in buses)), 10)


async def _publish(bus: MqttBus, ids: range) -> None:
    for i in ids:
        await bus.publish(parse_post(record(i)), "replay")
    await asyncio.wait_for(bus.drain(), 20)


def test_endpoint_and_backoff() -> None:
    ep = MqttEndpoint.from_url("mqtts://u%40x:p@broker.example:8884")
    assert (ep.host, ep.port, ep.tls, ep.username, ep.password) == ("broker.example", 8884, True, "u@x", "p")
    assert MqttEndpoint.from_url("mqtt://10.0.0.1").port == 1883
    with pytest.raises(ValueError, match="mqtt://host"):
        MqttEndpoint.from_url("http://x")
    backoff = Reconnect(base=1.0, cap=8.0)
    delays = [backoff.next_delay() for _ in range(6)]
    assert all(0.5 * min(8.0, 2**i) <= d <= min(8.0, 2**i) for i, d in enumerate(delays))
    backoff.reset()
    assert backoff.next_delay() <= 1.0


async def test_shared_subscription_delivers_each_post_to_one_worker(mqtt_url: str, topic_prefix: str) -> None:
    pub = _bus(mqtt_url, topic_prefix, "collect")
    w1 = _bus(mqtt_url, topic_prefix, "classify", f"{topic_prefix}-w1")
    w2 = _bus(mqtt_url, topic_prefix, "classify", f"{topic_prefix}-w2")
    await _started(pub, w1, w2)
    got: dict[str, list[str]] = {"w1": [], "w2": []}

    async def consume(bus: MqttBus, name: str) -> None:
        while True:
            batch = await bus.get_batch(50, 0.02)
            got[name].extend(e.post.id for e in batch)
            assert all(e.source == "replay" for e in batch)
            await bus.ack(batch)

    tasks = [asyncio.create_task(consume(w1, "w1")), asyncio.create_task(consume(w2, "w2"))]
    try:
        await _publish(pub, range(400))

        async def all_in() -> bool:
            return len(got["w1"]) + len(got["w2"]) >= 400

        await eventually(all_in)
        await asyncio.sleep(0.2)
        ids = got["w1"] + got["w2"]
        assert len(ids) == 400 and len(set(ids)) == 400  # each post to exactly one worker
        assert got["w1"] and got["w2"]  # and both workers took a share
    finally:
        for task in tasks:
            task.cancel()
        for b in (pub, w1, w2):
            await b.close()


async def test_unacknowledged_posts_come_back_to_the_same_client_id(mqtt_url: str, topic_prefix: str) -> None:
    pub = _bus(mqtt_url, topic_prefix, "collect")
    worker = _bus(mqtt_url, topic_prefix, "classify", f"{topic_prefix}-w")
    await _started(pub, worker)
    await _publish(pub, range(30))
    first = await worker.get_batch(10, 0.5)
    await worker.ack(first)  # stored and acknowledged
    rest = []
    while len(first) + len(rest) < 30:
        rest.extend(await worker.get_batch(50, 0.2))
    await worker.close()  # "crash" before storing (and acknowledging) the rest
    assert worker.depth() >= 0
    replacement = _bus(mqtt_url, topic_prefix, "classify", f"{topic_prefix}-w")
    await _started(replacement)
    again: list[str] = []
    try:
        while len(again) < len(rest):
            batch = await asyncio.wait_for(replacement.get_batch(50, 0.2), 10)
            again.extend(e.post.id for e in batch)
            await replacement.ack(batch)
        assert sorted(again) == sorted(e.post.id for e in rest)
        assert not set(again) & {e.post.id for e in first}  # acknowledged ones are gone for good
    finally:
        await replacement.close()
        await pub.close()
    # the session's backlog came right behind the CONNACK; its acknowledgements counted too
    third = _bus(mqtt_url, topic_prefix, "classify", f"{topic_prefix}-w")
    await _started(third)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(third.get_batch(50, 0.1), 1.5)
    finally:
        await third.close()


async def test_unreadable_messages_are_dropped_not_redelivered(mqtt_url: str, topic_prefix: str) -> None:
    worker = _bus(mqtt_url, topic_prefix, "classify", f"{topic_prefix}-w")
    await _started(worker)
    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    async with aiomqtt.Client(host, int(port)) as raw:
        await raw.publish(f"{topic_prefix}/posts/weibo", b"{not json", qos=1)
        await raw.publish(f"{topic_prefix}/posts/weibo", json.dumps({"platform": "weibo"}).encode(), qos=1)
        await raw.publish(f"{topic_prefix}/posts/weibo", b"[" * 100_000, qos=1)  # too deep to decode
        lone = dict(record(2), text="\ud800 坏了")  # ensure_ascii: travels as a \ud800 escape
        await raw.publish(f"{topic_prefix}/posts/weibo", json.dumps(record(1)).encode(), qos=1)
        await raw.publish(f"{topic_prefix}/posts/weibo", json.dumps(lone).encode(), qos=1)
    try:
        batch: list[Any] = []
        while len(batch) < 2:
            batch += await asyncio.wait_for(worker.get_batch(10, 0.3), 10)
        assert [e.post.id for e in batch] == [record(1)["id"], record(2)["id"]]
        assert batch[0].source == "mqtt"  # no source property: named after the bus
        assert batch[1].post.text == "\ufffd 坏了"
        assert worker.rejected == 3
    finally:
        await worker.close()


async def test_publisher_and_worker_ride_out_a_broker_restart(broker: Broker) -> None:
    pub = _bus(broker.url, "s", "collect")
    worker = _bus(broker.url, "s", "classify", "restart-w1", batch_size=20)
    await _started(pub, worker)
    stored: set[str] = set()

    async def consume() -> None:
        while True:
            batch = await worker.get_batch(20, 0.02)
            await asyncio.sleep(0.01)  # "store" them
            stored.update(e.post.id for e in batch)
            await worker.ack(batch)

    consumer = asyncio.create_task(consume())
    try:
        await _publish(pub, range(0, 300))
        await asyncio.to_thread(broker.restart)
        await _publish(pub, range(300, 600))  # waits for the reconnection, then for each PUBACK

        async def all_stored() -> bool:
            return len(stored) == 600

        await eventually(all_stored, within=30)
        assert pub.reconnects >= 1 and worker.reconnects >= 1
    finally:
        consumer.cancel()
        await pub.close()
        await worker.close()


async def test_posts_nobody_would_receive_are_held_not_dropped(broker: Broker) -> None:
    # the worker's session exists but is offline; after a restart the broker forgets its shared
    # subscription until it reconnects, and answers publishes with "no matching subscribers"
    worker = _bus(broker.url, "s", "classify", "held-w1")
    await _started(worker)
    await worker.close()
    await asyncio.to_thread(broker.restart)
    pub = _bus(broker.url, "s", "collect")
    await _started(pub)
    publishing = asyncio.create_task(_publish(pub, range(40)))

    async def refused() -> bool:
        return pub.unrouted > 0

    await eventually(refused)
    assert not publishing.done()  # held, and the sources feel it as backpressure
    worker = _bus(broker.url, "s", "classify", "held-w1")
    await _started(worker)
    got: list[str] = []
    try:
        while len(got) < 40:
            batch = await asyncio.wait_for(worker.get_batch(50, 0.2), 20)
            got.extend(e.post.id for e in batch)
            await worker.ack(batch)
        await publishing
        assert sorted(set(got)) == sorted(record(i)["id"] for i in range(40))
    finally:
        await worker.close()
        await pub.close()
