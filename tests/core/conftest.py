"""Factories for the core tests: a real SQLite store in tmp_path, config dicts, post records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sentinel.config import StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.store import SqlStore

T0 = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def record(i: int, text: str = "今天用了艾克美的新品，感觉还不错", **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "platform": "weibo",
        "id": str(4950000000000000 + i),
        "text": text,
        "created_at": (T0 + timedelta(seconds=i)).isoformat(),
        "author": {
            "id": str(1000 + i % 50),
            "name": f"用户{i % 50}",
            "followers": 100 + i,
            "verified": False,
        },
        "reposts": 0,
        "comments": 0,
        "likes": 0,
    }
    rec.update(extra)
    return rec


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
async def store(tmp_path: Path, metrics: Metrics) -> AsyncIterator[SqlStore]:
    s = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path}/sentinel.db"), metrics)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def records() -> Iterator[list[dict[str, Any]]]:
    yield [record(i) for i in range(20)]
