"""``sentinel alerts|response|report`` end to end, on a real SQLite file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.clock import ManualClock
from sentinel.config import StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.store import SqlStore

from .conftest import T0, H, fill_known

runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    db = tmp_path / "cli.db"

    async def fill() -> None:
        store = SqlStore(StorageConfig(url=f"sqlite:///{db}"), Metrics(CollectorRegistry()))
        await store.open()
        try:
            await fill_known(store, ManualClock(T0 + 4.75 * H))
        finally:
            await store.close()

    asyncio.run(fill())
    path = tmp_path / "sentinel.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{db}"\n\n[[watch]]\nname = "acme"\nquery = "艾克美 OR ACME"\n',
        encoding="utf-8",
    )
    return path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_alerts_list_show_ack_resolve(config_file: Path) -> None:
    c = str(config_file)
    code, out = run("alerts", "list", "--config", c)
    assert code == 0 and "#1" in out and "acked by wang.li" in out
    code, out = run("alerts", "show", "1", "--config", c, "--json")
    shown = json.loads(out)
    assert [e["event"] for e in shown["events"]] == ["opened", "escalated", "deescalated", "resolved"]
    assert shown["events"][1]["factors"]["acked_by"] == "wang.li"
    assert [a["action"] for a in shown["audit"]] == ["alert.ack"]
    code, out = run("alerts", "ack", "1", "--config", c, "--by", "zhao.lei", "--note", "接手跟进")
    assert code == 0 and "acked by zhao.lei" in out
    code, out = run("alerts", "resolve", "1", "--config", c, "--by", "zhao.lei")
    assert code == 1 and "already resolved" in out
    code, out = run("alerts", "ack", "42", "--config", c, "--by", "zhao.lei")
    assert code == 1 and "no alert with id 42" in out


def test_silence_and_response(config_file: Path) -> None:
    c = str(config_file)
    code, out = run(
        "alerts",
        "silence",
        "--watch",
        "acme",
        "--for",
        "2h",
        "--reason",
        "发布会",
        "--by",
        "ops",
        "--config",
        c,
    )
    assert code == 0 and out.startswith("silence #1")
    code, out = run("alerts", "silence", "--watch", "nope", "--for", "2h", "--config", c)
    assert code == 2 and "unknown watch 'nope'" in out
    code, out = run("alerts", "silences", "--config", c, "--json")
    assert [s["reason"] for s in json.loads(out)] == ["发布会"]
    code, out = run(
        "response",
        "add",
        "--watch",
        "acme",
        "--at",
        "2026-11-28T16:00:00+08:00",
        "--kind",
        "recall",
        "--note",
        "召回批次 A123",
        "--config",
        c,
    )
    assert code == 0 and "recall for acme" in out
    code, out = run("response", "add", "--watch", "acme", "--kind", "bribe", "--config", c)
    assert code == 2
    code, out = run(
        "response", "add", "--watch", "acme", "--kind", "other", "--at", "2026-11-28 16:00", "--config", c
    )
    assert code == 2 and "UTC offset" in out
    code, out = run("response", "list", "--config", c, "--json")
    assert [r["kind"] for r in json.loads(out)] == ["apology", "recall"]
    code, out = run("response", "effect", "--watch", "acme", "--window", "2h", "--config", c, "--json")
    effects = json.loads(out)
    negative = next(x for x in effects[0]["comparisons"] if x["metric"] == "negative share")
    assert negative["direction"] == "down" and effects[0]["verdict"] == "effective"
    code, out = run("response", "effect", "--watch", "acme", "--window", "2h", "--config", c)
    assert code == 0 and "apology" in out and "effective" in out
    assert "risk (engine, time-weighted)" in out and "negative posts (posts/h)" in out


def test_report_command(config_file: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "review"
    code, out = run(
        "report",
        "--watch",
        "acme",
        "--from",
        "2026-11-28T08:00:00+08:00",
        "--to",
        "2026-11-28T20:00:00+08:00",
        "--out",
        str(out_dir),
        "--config",
        str(config_file),
    )
    assert code == 0, out
    assert out.strip().endswith("report.html")
    data = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert data["posts"] == 98 and data["sentiment"]["negative"] == 72
    assert (out_dir / "report.md").exists() and (out_dir / "charts" / "volume.svg").exists()
    code, out = run(
        "report",
        "--watch",
        "acme",
        "--from",
        "yesterday",
        "--out",
        str(out_dir),
        "--config",
        str(config_file),
    )
    assert code == 2 and "--from" in out


def test_review_notes_are_kept_by_the_report(config_file: Path, tmp_path: Path) -> None:
    c = str(config_file)
    code, out = run(
        "review", "note", "acme", "供应商批次抽检漏检", "--section", "原因", "--config", c, "--by", "li"
    )
    assert code == 0 and "原因" in out, out
    code, out = run("review", "note", "acme", "声明晚了 90 分钟", "--section", "lessons", "--config", c)
    assert code == 0, out
    code, out = run("review", "note", "acme", "x", "--section", "感想", "--config", c)
    assert code == 2 and "原因, 得失, 改进" in out
    code, out = run("review", "note", "nobody", "x", "--section", "改进", "--config", c)
    assert code == 2 and "unknown watch" in out
    code, out = run("review", "notes", "acme", "--config", c, "--json")
    notes = json.loads(out)
    assert [(n["section"], n["by"]) for n in notes] == [("原因", "li"), ("得失", notes[1]["by"])]
    span = ["--from", "2026-11-28T08:00:00+08:00", "--to", "2026-11-28T20:00:00+08:00"]
    code, out = run("report", "--watch", "acme", *span, "--out", str(tmp_path / "zh"), "--config", c)
    assert code == 0, out
    page = (tmp_path / "zh" / "report.html").read_text(encoding="utf-8")
    assert "供应商批次抽检漏检" in page and "声明晚了 90 分钟" in page
    assert '<html lang="zh-CN">' in page and "事件经过" in page
    assert "sentinel review note acme --section 改进" in page  # the empty section says how to fill it
    code, out = run(
        "report", "--watch", "acme", *span, "--out", str(tmp_path / "en"), "--config", c, "--lang", "en"
    )
    assert code == 0, out
    page = (tmp_path / "en" / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "What happened" in page and "供应商批次抽检漏检" in page
    code, out = run(
        "report", "--watch", "acme", *span, "--out", str(tmp_path / "x"), "--config", c, "--lang", "fr"
    )
    assert code == 2 and "--lang" in out


def test_alerts_list_shows_the_peak_and_show_prints_the_factors(config_file: Path) -> None:
    c = str(config_file)
    code, out = run("alerts", "list", "--config", c)
    assert code == 0, out
    # the alert went yellow -> red -> yellow -> resolved: over now, its peak red at 85
    assert "peak red" in out and "85.0" in out and "now -" in out and "resolved" in out, out
    code, out = run("alerts", "list", "--config", c, "--json")
    [listed] = json.loads(out)
    assert (listed["level"], listed["peak_level"], listed["peak_risk"]) == ("yellow", "red", 85.0)
    code, out = run("alerts", "show", "1", "--config", c)
    assert code == 0 and "peak red" in out
    assert out.count("volume") == 4 and "-> 20 of the risk" in out, out  # one factor line per event
