"""Throughput of the MQTT bus alone: one collector bus publishing, one worker bus consuming.

Starts its own Mosquitto (the test helper in tests/scale/support.py), publishes N canonical
posts with QoS 1 through ``MqttBus`` (each PUBACK awaited), while a worker bus takes batches
and acknowledges each one at once (no store, no classifier), and prints the publish rate and
the published → consumed-and-acknowledged rate.

    python bench/bus.py --posts 30000 [--repeat 2]

Needs ``mosquitto``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers start the broker

from tests.scale.support import Broker, record  # noqa: E402

from sentinel.bus.mqtt import MqttBus  # noqa: E402
from sentinel.config import BusConfig  # noqa: E402
from sentinel.post import parse_post  # noqa: E402


async def once(url: str, n: int, run: int) -> tuple[float, float]:
    prefix = f"bench{run}"
    pub = MqttBus(BusConfig(type="mqtt", url=url, topic_prefix=prefix), role="collect")
    worker = MqttBus(
        BusConfig(type="mqtt", url=url, topic_prefix=prefix, client_id=f"{prefix}-w", batch_size=256),
        role="classify",
    )
    for bus in (pub, worker):
        await bus.start()
    await asyncio.wait_for(asyncio.gather(pub.wait_connected(), worker.wait_connected()), 10)
    posts = [parse_post(record(i)) for i in range(n)]
    got = 0

    async def consume() -> None:
        nonlocal got
        while got < n:
            batch = await worker.get_batch(256, 0.01)
            got += len(batch)
            await worker.ack(batch)

    start = time.perf_counter()
    consumer = asyncio.create_task(consume())
    for post in posts:
        await pub.publish(post, "bench")
    await pub.drain()
    published = time.perf_counter() - start
    await consumer
    consumed = time.perf_counter() - start
    await pub.close()
    await worker.close()
    return n / published, n / consumed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    broker = Broker()
    broker.start()
    try:
        for run in range(args.repeat):
            pub_rate, end_rate = asyncio.run(once(broker.url, args.posts, run))
            print(
                f"run {run + 1}: {args.posts} posts; published {pub_rate:,.0f}/s; "
                f"published → consumed and acked {end_rate:,.0f}/s"
            )
    finally:
        broker.close()


if __name__ == "__main__":
    main()
