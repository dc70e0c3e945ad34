"""Shared fixtures for the notifier tests: a real SQLite store, fresh metrics, alert events."""

from __future__ import annotations

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


@pytest.fixture
async def store(tmp_path: Path, metrics: Metrics) -> AsyncIterator[SqlStore]:
    s = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path / 'sentinel.db'}"), metrics)
    await s.open()
    yield s
    await s.close()
