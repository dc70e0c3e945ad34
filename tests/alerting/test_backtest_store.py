"""``sentinel backtest --store``: a recorded case loaded into a real SQLite file, then reviewed."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.config import StorageConfig
from sentinel.simulate.scenario import generate
from sentinel.store import SqlStore

runner = CliRunner()
START = datetime.fromisoformat("2026-11-28T12:00:00+08:00")


def _config(tmp_path: Path, db: Path) -> Path:
    path = tmp_path / f"{db.stem}.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{db}"\n[classifier]\ntype = "lexicon"\n\n'
        '[[watch]]\nname = "acme"\nquery = "艾克美 OR ACME"\n',
        encoding="utf-8",
    )
    return path


def test_a_backtest_loaded_into_a_store_can_be_reviewed(tmp_path: Path) -> None:
    records = list(generate("demo", start=START, seed=1))
    stream = tmp_path / "case.jsonl"
    stream.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    case = tmp_path / "case.db"
    cfg = str(_config(tmp_path, tmp_path / "daemon.db"))

    plain = runner.invoke(
        app, ["backtest", "--config", cfg, "-i", str(stream), "-o", str(tmp_path / "a.jsonl")]
    )
    assert plain.exit_code == 0, plain.output
    loaded = runner.invoke(
        app,
        [
            "backtest",
            "--config",
            cfg,
            "-i",
            str(stream),
            "-o",
            str(tmp_path / "b.jsonl"),
            "--store",
            f"sqlite:///{case}",
        ],
    )
    assert loaded.exit_code == 0, loaded.output
    # the contract's output is the same with or without a store
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    events = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text(encoding="utf-8").splitlines()]
    opened = sum(e["event"] == "opened" for e in events)
    assert opened >= 1 and f"{len(events)} alert events loaded" in loaded.output

    async def look() -> tuple[dict[str, dict[str, int]], list[str]]:
        store = SqlStore(StorageConfig(url=f"sqlite:///{case}"))
        await store.open()
        try:
            return await store.outbox_counts(), sorted(await store.alert_watches())
        finally:
            await store.close()

    outbox, watches = asyncio.run(look())
    assert watches == ["acme"]
    assert sum(n for counts in outbox.values() for n in counts.values()) == 0  # nobody was paged

    review = str(_config(tmp_path, case))
    first = min(datetime.fromisoformat(r["created_at"]) for r in records)
    last = max(datetime.fromisoformat(r["created_at"]) for r in records)
    out = tmp_path / "review"
    result = runner.invoke(
        app,
        [
            "report",
            "--config",
            review,
            "--watch",
            "acme",
            "--out",
            str(out),
            "--from",
            first.isoformat(),
            "--to",
            (last + timedelta(minutes=1)).isoformat(),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert len(data["alerts"]) == opened
    assert (
        data["peak_level"]
        == max(events, key=lambda e: ("blue", "yellow", "orange", "red").index(e["level"]))["level"]
    )
    assert data["posts"] > 0.5 * sum("艾克美" in r["text"] or "ACME" in r["text"] for r in records)
    listed = runner.invoke(app, ["alerts", "list", "--config", review])
    assert listed.exit_code == 0 and "acme" in listed.output
    # a second replay into the same store would double the case: refused
    again = runner.invoke(
        app,
        [
            "backtest",
            "--config",
            cfg,
            "-i",
            str(stream),
            "-o",
            str(tmp_path / "c.jsonl"),
            "--store",
            f"sqlite:///{case}",
        ],
    )
    assert again.exit_code == 2 and "already holds alerts of acme" in again.output
