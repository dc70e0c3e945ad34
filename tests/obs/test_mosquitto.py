"""config/mosquitto/mosquitto.conf, as compose uses it, on a real Mosquitto.

Only the listener and the persistence folder are rewritten (127.0.0.1, a free port, tmp);
every other line is the committed file, so an option this Mosquitto does not know fails here.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "config" / "mosquitto" / "mosquitto.conf"
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)

pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto not installed (apt-get install mosquitto)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_copy(tmp_path: Path, port: int) -> Path:
    text = CONF.read_text(encoding="utf-8")
    text, n = re.subn(r"^listener \d+.*$", f"listener {port} 127.0.0.1", text, flags=re.M)
    assert n == 1
    text, n = re.subn(r"^persistence_location .*$", f"persistence_location {tmp_path}/", text, flags=re.M)
    assert n == 1
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(text, encoding="utf-8")
    tmp_path.chmod(0o777)  # mosquitto started as root drops to its own user
    return conf


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[int]:
    port = free_port()
    conf = local_copy(tmp_path, port)
    assert MOSQUITTO is not None
    log = (tmp_path / "mosquitto.log").open("wb")
    proc = await asyncio.create_subprocess_exec(MOSQUITTO, "-c", str(conf), stdout=log, stderr=log)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            if proc.returncode is not None:
                raise AssertionError(f"mosquitto exited: {(tmp_path / 'mosquitto.log').read_text()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                break
            except OSError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        log.close()


def test_config_is_accepted_as_is_by_syntax(tmp_path: Path) -> None:
    # a config error makes mosquitto exit at once with a message naming the line
    assert MOSQUITTO is not None
    bad = tmp_path / "bad.conf"
    bad.write_text(local_copy(tmp_path, free_port()).read_text() + "\nno_such_option 1\n")
    result = subprocess.run(
        [MOSQUITTO, "-c", str(bad)], capture_output=True, text=True, timeout=10, check=False
    )
    assert result.returncode != 0
    assert "no_such_option" in result.stdout + result.stderr


async def test_shared_subscription_round_trip(broker: int) -> None:
    """Two workers in one MQTT v5 share group: each QoS 1 post reaches exactly one of them."""
    v5 = aiomqtt.ProtocolVersion.V5
    topic = "$share/sentinel-classify/sentinel/posts/#"
    async with (
        aiomqtt.Client("127.0.0.1", broker, identifier="w1", protocol=v5) as w1,
        aiomqtt.Client("127.0.0.1", broker, identifier="w2", protocol=v5) as w2,
        aiomqtt.Client("127.0.0.1", broker, identifier="collector", protocol=v5) as pub,
    ):
        await w1.subscribe(topic, qos=1)
        await w2.subscribe(topic, qos=1)
        for i in range(20):
            await pub.publish("sentinel/posts/weibo", f'{{"id": "{i}"}}'.encode(), qos=1)

        got: list[tuple[str, bytes]] = []
        all_in = asyncio.Event()

        async def drain(name: str, client: aiomqtt.Client) -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                got.append((name, message.payload))
                if len(got) >= 20:
                    all_in.set()

        tasks = [asyncio.create_task(drain("w1", w1)), asyncio.create_task(drain("w2", w2))]
        await asyncio.wait_for(all_in.wait(), 10)
        await asyncio.sleep(0.2)  # a duplicate would arrive now
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    payloads = sorted(p for _, p in got)
    assert payloads == sorted(f'{{"id": "{i}"}}'.encode() for i in range(20))
    assert {name for name, _ in got} == {"w1", "w2"}  # the broker spread the load
