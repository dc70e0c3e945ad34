"""Fixtures for the scale-out tests: the CI broker and database, or our own restartable ones.

The shared servers come from ``.ci/run`` (``SENTINEL_TEST_MQTT_URL``, ``SENTINEL_TEST_PG_URL``);
tests that need them skip, saying why, when those are not set.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from sentinel.obs.metrics import Metrics

from .support import Broker, PgCluster


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def mqtt_url() -> str:
    url = os.environ.get("SENTINEL_TEST_MQTT_URL")
    if not url:
        pytest.skip("SENTINEL_TEST_MQTT_URL not set (.ci/run starts Mosquitto and sets it)")
    return url


@pytest.fixture
def topic_prefix() -> str:
    """Each test its own topics and client ids on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker() -> Iterator[Broker]:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    b = Broker()
    b.start()
    try:
        yield b
    finally:
        b.close()


def _admin(base: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the CI PostgreSQL, dropped afterwards."""
    base = os.environ.get("SENTINEL_TEST_PG_URL")
    if not base:
        pytest.skip("SENTINEL_TEST_PG_URL not set (.ci/run starts PostgreSQL and sets it)")
    name = f"scale_{uuid.uuid4().hex[:12]}"
    _admin(base, f'CREATE DATABASE "{name}"')
    head, _, _ = base.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """Our own PostgreSQL, for tests that restart it."""
    bindir = os.environ.get("SENTINEL_TEST_PG_BIN")
    if not bindir:
        pytest.skip("SENTINEL_TEST_PG_BIN not set (.ci/run sets it to PostgreSQL's bin directory)")
    cluster = PgCluster(bindir)
    cluster.init()
    try:
        yield cluster
    finally:
        cluster.close()


async def eventually(check, within: float = 20.0, every: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(every)
