from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel import __version__
from sentinel.cli import app

from .conftest import record, write_jsonl

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["classify"],
        ["backtest"],
        ["export"],
        ["db", "upgrade"],
        ["check-config"],
        ["version"],
        ["train"],
        ["train-rumour"],
        ["train-reactions"],
        ["evaluate"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def _lexicon_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n[classifier]\ntype = "lexicon"\n'
        '[[watch]]\nname = "acme"\nquery = "艾克美"\n',
        encoding="utf-8",
    )
    return cfg


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    cfg = _lexicon_config(tmp_path)
    result = runner.invoke(app, ["db", "upgrade", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    import sqlite3

    with sqlite3.connect(tmp_path / "s.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"posts", "classifications", "alerts", "alert_events", "source_cursors", "outbox"} <= tables


def test_backtest_rejects_a_missing_input(tmp_path: Path) -> None:
    cfg = _lexicon_config(tmp_path)
    result = runner.invoke(
        app,
        ["backtest", "--config", str(cfg), "--input", str(tmp_path / "nope.jsonl"), "--output", "o.jsonl"],
    )
    assert result.exit_code == 2


def test_backtest_counts_bad_lines_and_duplicates(tmp_path: Path) -> None:
    cfg = _lexicon_config(tmp_path)
    posts = write_jsonl(tmp_path / "p.jsonl", [record(i) for i in range(50)] + [record(3)])
    with posts.open("a", encoding="utf-8") as fh:
        fh.write("{oops\n")
    out = tmp_path / "alerts.jsonl"
    result = runner.invoke(
        app, ["backtest", "--config", str(cfg), "--input", str(posts), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "posts: 50" in result.output and "duplicates: 1" in result.output and "bad_json=1" in result.output
    for line in out.read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) == {"event", "watch", "level", "risk", "at", "factors", "posts"}
