"""``sentinel notify-test`` and ``sentinel notify-outbox`` through the real command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fake_services import FakeDingTalk, FakeFeishu
from notify_support import RecordingNotifier, make_event
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.clock import SystemClock
from sentinel.config import StorageConfig
from sentinel.notify.base import NotifyError
from sentinel.notify.dispatcher import Dispatcher
from sentinel.obs.metrics import Metrics
from sentinel.store.sql import SqlStore


def _config(tmp_path: Path, dt: FakeDingTalk, fs: FakeFeishu) -> Path:
    path = tmp_path / "sentinel.toml"
    path.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "sentinel.db"}"

[[notify]]
type = "dingtalk"
name = "ops-dingtalk"
url = "{dt.url}"
secret = "{dt.secret}"

[[notify]]
type = "feishu"
name = "pr-feishu"
url = "{fs.url}"
secret = "not-the-secret"
lang = "en"
""",
        encoding="utf-8",
    )
    return path


def test_notify_test_prints_each_channels_result(tmp_path: Path) -> None:
    dt, fs = FakeDingTalk(), FakeFeishu()
    try:
        config = _config(tmp_path, dt, fs)
        result = CliRunner().invoke(app, ["notify-test", "--config", str(config)])
        only = CliRunner().invoke(app, ["notify-test", "--config", str(config), "--channel", "ops-dingtalk"])
        unknown = CliRunner().invoke(app, ["notify-test", "--config", str(config), "--channel", "nope"])
    finally:
        dt.close()
        fs.close()
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("ops-dingtalk") and line.rstrip().endswith("ok") for line in lines)
    assert any(
        "pr-feishu" in line and "FAILED" in line and "19021" in line and "(permanent)" in line
        for line in lines
    )
    assert "not-the-secret" not in result.output and (dt.secret or "") not in result.output
    assert only.exit_code == 0 and "pr-feishu" not in only.output
    assert unknown.exit_code == 2
    assert len(dt.arrivals) == 2
    assert "测试消息" in dt.arrivals[0].body["markdown"]["text"]


def test_notify_outbox_lists_and_requeues_dead_letters(tmp_path: Path) -> None:
    db = tmp_path / "sentinel.db"

    async def setup() -> None:
        metrics = Metrics(CollectorRegistry())
        store = SqlStore(StorageConfig(url=f"sqlite:///{db}"), metrics)
        await store.open()
        rec = RecordingNotifier("ops")
        rec.fail = lambda evs: NotifyError("ops: errcode 310000: sign not match", retryable=False)
        d = Dispatcher([rec], store, SystemClock(), metrics)
        await store.save_events([make_event(0), make_event(1)], d.channels_for)
        await d.start()
        assert await d.drain(5)
        await d.stop(2)
        await store.close()

    asyncio.run(setup())
    config = tmp_path / "sentinel.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{db}"\n', encoding="utf-8")
    shown = CliRunner().invoke(app, ["notify-outbox", "--config", str(config), "--dead"])
    assert shown.exit_code == 0, shown.output
    assert "ops" in shown.output and "sign not match" in shown.output
    assert shown.output.count("dead #") == 2
    again = CliRunner().invoke(app, ["notify-outbox", "--config", str(config), "--retry-dead"])
    assert again.exit_code == 0 and "2 dead message(s) queued again" in again.output
    row = next(line.split() for line in again.output.splitlines() if line.startswith("ops"))
    assert row[1:] == ["2", "0", "0"]
