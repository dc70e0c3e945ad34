from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sentinel.post import parse_post
from sentinel.risk.commands import register_simulate
from sentinel.simulate.scenario import CRISES, DECOYS, generate

START = datetime.fromisoformat("2026-11-02T00:00:00+08:00")


def test_demo_is_short_labelled_and_ordered() -> None:
    records = list(generate("demo", start=START, seed=3))
    times = [datetime.fromisoformat(r["created_at"]) for r in records]
    assert times == sorted(times)
    assert (times[-1] - times[0]).total_seconds() < 330
    phases = {r["label"]["phase"] for r in records}
    assert phases == {"background", "crisis"}
    crisis = [r for r in records if r["label"]["phase"] == "crisis"]
    onset = datetime.fromisoformat(crisis[0]["created_at"])
    assert 15 <= (onset - times[0]).total_seconds() <= 25
    assert any(r["repost_of"] for r in crisis)
    assert any(r["author"]["verified"] and r["author"]["followers"] >= 1_000_000 for r in crisis)
    for r in records[:50]:
        parse_post(r)  # canonical
        assert r["created_at"].endswith("+08:00")


def test_same_seed_same_stream_and_month_has_every_kind() -> None:
    a = list(generate("month", start=START, seed=1, days=20, volume=10))
    b = list(generate("month", start=START, seed=1, days=20, volume=10))
    assert a == b
    kinds = {r["label"]["incident"].rsplit("-", 1)[-1] for r in a if r["label"]["incident"]}
    assert set(CRISES) | set(DECOYS) <= kinds | {"rumour"}
    assert len(kinds) >= 6


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        next(generate("nope", start=START))


def test_cli_writes_jsonl(tmp_path: Path) -> None:
    app = typer.Typer()
    simulate = typer.Typer()
    app.add_typer(simulate, name="simulate")
    register_simulate(simulate)
    out = tmp_path / "s.jsonl"
    result = CliRunner().invoke(
        app, ["simulate", "scenario", "--name", "kol", "--days", "4", "--seed", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines and any(r["label"]["phase"] == "crisis" for r in lines)
    bad = CliRunner().invoke(app, ["simulate", "scenario", "--name", "nope"])
    assert bad.exit_code == 2
