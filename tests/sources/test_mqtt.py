"""MqttSource against a real Mosquitto: posts in, junk counted, acknowledged only after flush."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiomqtt
import pytest

from sentinel.sources.base import SourceContext
from sentinel.sources.mqtt import MqttSource, decode_payload

from .conftest import RecordingSink, errors, free_port, make_posts


async def wait_for(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def start(source: MqttSource, sink: RecordingSink) -> asyncio.Task[None]:
    task = asyncio.create_task(source.collect(sink))
    await asyncio.wait_for(source.connected.wait(), 10)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def mqtt(make_ctx: Callable[..., SourceContext], port: int, **options: Any) -> MqttSource:
    return MqttSource(make_ctx("mqtt", {"url": f"mqtt://127.0.0.1:{port}", "topic": "ingest/#", **options}))


async def test_posts_published_are_collected_and_junk_is_counted(make_ctx, mosquitto, sink, request):
    source = mqtt(make_ctx, mosquitto, client_id=f"t-{request.node.name}"[:60], clean_session=True)
    task = await start(source, sink)
    posts = make_posts(30)
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto) as pub:
            for p in posts[:10]:
                await pub.publish("ingest/a", json.dumps(p, ensure_ascii=False), qos=1)
            await pub.publish("ingest/b", json.dumps(posts[10:20], ensure_ascii=False), qos=1)
            lines = "\n".join(json.dumps(p, ensure_ascii=False) for p in posts[20:]) + "\n{broken"
            await pub.publish("ingest/c", lines, qos=1)
            await pub.publish("ingest/d", b"\xff\xfe not utf-8", qos=1)
            await pub.publish("ingest/e", json.dumps({"platform": "x", "id": "1"}), qos=1)
            await pub.publish("ingest/f", "[1, 2]", qos=1)
            await wait_for(lambda: len(sink.posts) == 30 and sum(sink.rejects.values()) == 5)
    finally:
        await stop(task)
    assert sink.ids() == {p["id"] for p in posts}
    assert sink.rejects == {"bad_json": 1, "bad_encoding": 1, "missing_field": 1, "not_object": 2}
    assert sink.flushes >= 1
    assert source.ctx.health.last_success is not None and not source.ctx.health.blocked


async def test_unacknowledged_messages_come_back_after_a_crash(make_ctx, mosquitto, metrics):
    """A persistent session: messages taken but not flushed are redelivered to the next process."""
    client_id = "sentinel-redelivery-test"
    posts = make_posts(3)

    class FailingSink(RecordingSink):
        async def flush(self) -> None:
            raise RuntimeError("store is down")

    crashing = mqtt(make_ctx, mosquitto, client_id=client_id)
    sink = FailingSink(metrics, "src")
    task = asyncio.create_task(crashing.collect(sink))
    await asyncio.wait_for(crashing.connected.wait(), 10)
    async with aiomqtt.Client("127.0.0.1", mosquitto) as pub:
        for p in posts:
            await pub.publish("ingest/x", json.dumps(p, ensure_ascii=False), qos=1)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(task, 10)  # the "crash": the flush failed, nothing was acknowledged
    assert len(sink.posts) >= 1

    again = RecordingSink(metrics, "src")
    restarted = mqtt(make_ctx, mosquitto, client_id=client_id)
    task = await start(restarted, again)
    try:
        await wait_for(lambda: len(again.posts) == 3)
    finally:
        await stop(task)
    assert again.ids() == {p["id"] for p in posts}
    # clean up the persistent session so reruns start empty
    async with aiomqtt.Client("127.0.0.1", mosquitto, identifier=client_id, clean_session=True):
        pass


async def test_unreachable_broker_is_counted_and_retried(make_ctx, sink, metrics):
    source = mqtt(make_ctx, free_port(), reconnect_min=0.05, reconnect_max=0.1)
    task = asyncio.create_task(source.collect(sink))
    try:
        await wait_for(lambda: source.ctx.health.consecutive_failures >= 2)
    finally:
        await stop(task)
    assert errors(metrics, "connect") + errors(metrics, "disconnected") >= 2
    assert not sink.posts


def test_decode_payload_forms() -> None:
    assert decode_payload(b'{"a": 1}') == ([{"a": 1}], [])
    assert decode_payload(b'[{"a": 1}, 2]') == ([{"a": 1}, 2], [])
    assert decode_payload(b'{"a": 1}\n{"b": 2}\n') == ([{"a": 1}, {"b": 2}], [])
    assert decode_payload(b"")[1][0][0] == "bad_json"
    assert decode_payload(b"\xff")[1][0][0] == "bad_encoding"


@pytest.mark.parametrize(
    ("options", "key"), [({"url": "http://x"}, "url"), ({"qos": 3}, "qos"), ({"x": 1}, "x")]
)
def test_options_errors_name_the_key(make_ctx, options, key):
    with pytest.raises(ValueError, match=key):
        MqttSource(make_ctx("mqtt", options))


async def test_acknowledged_messages_are_not_redelivered(make_ctx, mosquitto, metrics):
    client_id = "sentinel-ack-test"
    posts = make_posts(4)
    first = RecordingSink(metrics, "src")
    source = mqtt(make_ctx, mosquitto, client_id=client_id)
    task = await start(source, first)
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto) as pub:
            for p in posts:
                await pub.publish("ingest/y", json.dumps(p, ensure_ascii=False), qos=1)
        await wait_for(lambda: len(first.posts) == 4 and first.flushes >= 1)
        await asyncio.sleep(0.3)  # let the PUBACKs reach the broker
    finally:
        await stop(task)
    again = RecordingSink(metrics, "src")
    restarted = mqtt(make_ctx, mosquitto, client_id=client_id)
    task = await start(restarted, again)
    try:
        await asyncio.sleep(1.0)
    finally:
        await stop(task)
    assert again.posts == {}
    async with aiomqtt.Client("127.0.0.1", mosquitto, identifier=client_id, clean_session=True):
        pass
