"""Shared fixtures for the notifier tests: a real store (SQLite file, or PostgreSQL when
``.ci/run`` provides one in ``SENTINEL_TEST_PG_URL``) and fresh metrics."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from sentinel.config import StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.store.sql import SqlStore


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


async def _admin(base: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL; the outbox must behave the same on both dialects."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sentinel.db'}"
        return
    base = os.environ.get("SENTINEL_TEST_PG_URL")
    if not base:
        pytest.skip("SENTINEL_TEST_PG_URL not set (.ci/run starts PostgreSQL and sets it)")
    name = f"notify_{uuid.uuid4().hex[:12]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rpartition('/')[0]}/{name}"
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def store(db_url: str, metrics: Metrics) -> AsyncIterator[SqlStore]:
    s = SqlStore(StorageConfig(url=db_url), metrics)
    await s.open()
    yield s
    await s.close()
