"""Briefings (舆情日报): the numbers against the known stream, the page, the schedule, the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sentinel.alerting.digest import build_briefing, hot_words, render_briefing, summary_lines
from sentinel.cli import app
from sentinel.clock import ManualClock
from sentinel.config import Config, ConfigError, config_from_dict
from sentinel.digest import DigestScheduler
from sentinel.store import SqlStore

from .conftest import T0, H, Known


def digest_config(url: str, out: Path, **digest: Any) -> Config:
    return config_from_dict(
        {
            "storage": {"url": url},
            "watch": [
                {"name": "acme", "query": "艾克美 OR ACME"},
                {"name": "rival", "query": "别的品牌"},
            ],
            "digest": [
                {
                    "name": "daily",
                    "schedule": "0 9 * * *",
                    "period": "12h",
                    "watches": ["acme"],
                    "competitors": ["rival"],
                    "out": str(out),
                    "link_base": "https://intranet.example.test/digests/",
                    **digest,
                }
            ],
        }
    )


async def test_the_briefing_of_the_known_stream(
    filled: SqlStore, config: Config, clock: ManualClock, known: Known, tmp_path: Path
) -> None:
    cfg = digest_config(config.storage.url, tmp_path / "out")
    b = await build_briefing(filled, cfg, cfg.digests[0], until=T0 + 12 * H, clock=clock)
    acme, rival = b.watches
    assert (acme.watch, acme.competitor, rival.watch, rival.competitor) == ("acme", False, "rival", True)
    assert acme.posts == known.posts and acme.previous_posts == 24  # the calm half-day before
    assert acme.negative_share == pytest.approx(known.negative / known.posts) and acme.previous_share == 0
    assert acme.volume_change() == pytest.approx(known.posts / 24 - 1)
    assert rival.posts == 12 and rival.previous_posts == 12 and rival.negative_share == 1.0
    assert [a.id for _, a in b.alerts()] == [known.alert_id] and b.peak() == "red"
    assert [r.kind for _, r in b.responses()] == ["apology"]
    words = [w for w, _ in b.hot]
    assert words[:2] == ["出事", "太过分"] and "道歉" in words  # the crisis's words, then the apology's
    assert not any("艾克" in w for w in words) and "转发" not in words  # the brand's name is not news
    assert b.title == "舆情日报" and b.file_name() == "daily-20261128-2000.html"  # 12:00 UTC in Shanghai
    assert b.link() == "https://intranet.example.test/digests/daily-20261128-2000.html"

    page = render_briefing(b)
    assert '<html lang="zh-CN">' in page and 'id="chart-volume-acme"' in page and "<script" not in page
    stories = page.index("热点事件")
    assert (
        stories < page.index("艾克美牛奶喝出异物") < page.index("今天买了艾克美的牛奶", stories)
    )  # the cascade first
    assert "rival（竞品）" in page and ">出事</span>" in page and "官方微博致歉并说明调查进展" in page
    lines = summary_lines(b)
    assert lines[0] == f"acme：帖子 98 条（环比 +{100 * (98 / 24 - 1):.0f}%），负面 73.5%（+73.5 个百分点）"
    assert lines[1].startswith("rival（竞品）：帖子 12 条（环比 +0%），负面 100.0%")
    assert lines[2] == "预警 1 次，最高 红色；回应 1 次"


def test_hot_words_leave_out_the_query_and_noise() -> None:
    texts = ["艾克美牛奶喝出异物 转发", "异物事件 艾克美必须道歉", "道歉了吗 2026 异物"]
    words = [w for w, _ in hot_words(texts, {"艾克美", "acme"}, top=5)]
    assert words[0] == "异物" and "道歉" in words
    assert all(len(w) > 1 and not w.isdigit() and "艾克" not in w and w != "转发" for w in words)
    assert hot_words([], set()) == []


def test_config_errors_name_the_digest_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"digest\[0\] \('daily'\)\.competitors: unknown 'nobody'"):
        digest_config("sqlite:///x.db", tmp_path, competitors=["nobody"])
    with pytest.raises(ConfigError, match="not a cron expression"):
        digest_config("sqlite:///x.db", tmp_path, schedule="every morning")
    with pytest.raises(ConfigError, match="unknown time zone"):
        digest_config("sqlite:///x.db", tmp_path, timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="channels: unknown 'mail'"):
        digest_config("sqlite:///x.db", tmp_path, channels=["mail"])


async def test_the_scheduler_runs_a_digest_when_its_time_comes(
    filled: SqlStore, config: Config, clock: ManualClock, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cfg = digest_config(config.storage.url, out, schedule="0 9 * * *")
    scheduler = DigestScheduler(cfg, filled, clock, [])
    scheduler.start()
    try:
        [(name, nxt)] = scheduler.next_runs().items()
        assert name == "daily" and nxt is not None
        assert (nxt.hour, nxt.minute, nxt.utcoffset()) == (9, 0, timedelta(hours=8))
        # bring the next run forward to now: APScheduler's own timer fires it
        scheduler.scheduler.get_job("digest:daily").modify(next_run_time=datetime.now(UTC))
        for _ in range(200):
            if list(out.glob("daily-*.html")):
                break
            await asyncio.sleep(0.05)
    finally:
        await scheduler.stop()
    [page] = out.glob("daily-*.html")
    assert "舆情日报" in page.read_text(encoding="utf-8")


def test_digest_run_and_list_from_the_command_line(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from sentinel.config import StorageConfig
    from sentinel.obs.metrics import Metrics

    from .conftest import fill_known

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
        f'[storage]\nurl = "sqlite:///{db}"\n\n[[watch]]\nname = "acme"\nquery = "艾克美"\n\n'
        '[[digest]]\nname = "weekly"\nschedule = "0 9 * * mon"\nperiod = "7d"\nwatches = ["acme"]\n'
        'out = "briefings"\nlang = "en"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(app, ["digest", "list", "--config", str(path)])
    assert result.exit_code == 0 and "weekly" in result.output and "0 9 * * mon" in result.output
    result = runner.invoke(
        app,
        ["digest", "run", "weekly", "--config", str(path), "--until", (T0 + 12 * H).isoformat(), "--no-send"],
    )
    assert result.exit_code == 0, result.output
    page = Path(result.output.strip().splitlines()[-1])
    assert page.parent == tmp_path / "briefings"  # relative to the config file
    text = page.read_text(encoding="utf-8")
    assert '<html lang="en">' in text and "Weekly briefing" in text and "Hot words" in text
    result = runner.invoke(app, ["digest", "run", "nightly", "--config", str(path)])
    assert result.exit_code == 2 and "unknown digest 'nightly' (known: weekly)" in result.output


async def test_the_daemon_runs_its_digests_and_stops_them(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from sentinel.obs.metrics import Metrics
    from sentinel.pipeline import Runtime

    cfg = config_from_dict(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/sentinel.db"},
            "metrics": {"enabled": False},
            "classifier": {"type": "lexicon"},
            "watch": [{"name": "acme", "query": "艾克美"}],
            "digest": [{"name": "daily", "schedule": "0 9 * * *", "watches": ["acme"], "out": str(tmp_path)}],
        },
        environ={},
    )
    runtime = Runtime(cfg, metrics=Metrics(CollectorRegistry()), notifiers=[])
    await runtime.start()
    try:
        digests = runtime._digests
        assert isinstance(digests, DigestScheduler) and digests.scheduler.running
        assert list(digests.next_runs()) == ["daily"]
    finally:
        await runtime.stop()
    assert not digests.scheduler.running
