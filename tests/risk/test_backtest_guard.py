"""``sentinel backtest`` against broken streams and careless paths (issue 19).

A post dated far ahead must not move the event clock; a poison line is a counted
rejection; ``--output`` must never be the input (opening it would empty it).
"""

from __future__ import annotations

import io
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.backtest import BacktestSummary, _steady, run_backtest
from sentinel.cli import app
from sentinel.config import config_from_dict, level_rank
from sentinel.post import MAX_COUNT, Post, parse_post
from sentinel.simulate.scenario import generate

CONFIG = {"classifier": {"type": "lexicon"}, "watch": [{"name": "艾克美", "query": "艾克美 OR ACME"}]}


def _records() -> list[dict[str, object]]:
    start = datetime.fromisoformat("2026-11-28T12:00:00+08:00")
    return list(generate("demo", start=start, seed=1))


def _run(lines: list[str]) -> tuple[list[dict[str, object]], BacktestSummary]:
    out = io.StringIO()
    summary = run_backtest(config_from_dict(CONFIG), lines, out)
    return [json.loads(line) for line in out.getvalue().splitlines()], summary


def _dumps(records: list[dict[str, object]]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in records]


def test_a_far_future_post_does_not_move_the_event_clock() -> None:
    records = _records()
    clean, _ = _run(_dumps(records))
    assert max(level_rank(str(e["level"])) for e in clean) >= level_rank("orange")  # escalates
    future = dict(records[len(records) // 3], id="far-future", created_at="2099-06-01T00:00:00+08:00")
    broken = [*records[: len(records) // 3], future, future, *records[len(records) // 3 :]]  # and a copy
    events, summary = _run(_dumps(broken))
    assert events == clean
    assert summary.rejected["clock_jump"] == 2
    ancient = dict(future, created_at="9999-12-31T23:59:59-23:59")  # outside any post's time
    events, summary = _run(_dumps([*records[:50], ancient, *records[50:]]))
    assert events == clean and summary.rejected["bad_timestamp"] == 1


def _post(i: int, when: datetime) -> Post:
    return parse_post({"platform": "weibo", "id": str(i), "text": "x", "created_at": when.isoformat()})


def test_a_sparse_stream_and_a_first_outlier() -> None:
    t0 = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    summary = BacktestSummary()
    sparse = [_post(i, t0 + timedelta(days=3 * i)) for i in range(5)]  # a post every three days
    kept = list(_steady(sparse[:-1], summary, timedelta(days=1)))
    assert kept == sparse[:-1] and not summary.rejected  # each jump confirmed by the next post
    # the stream's first post is measured against the second
    first = [_post(0, t0 + timedelta(days=400)), *(_post(i, t0 + timedelta(minutes=i)) for i in range(1, 5))]
    assert list(_steady(first, summary, timedelta(days=1))) == first[1:]
    assert summary.rejected["clock_jump"] == 1
    # a lone post is the whole stream
    assert list(_steady(first[:1], BacktestSummary(), timedelta(days=1))) == first[:1]


def test_poison_lines_are_counted_and_the_run_goes_on() -> None:
    records = _records()
    line = json.dumps(records[10], ensure_ascii=False)
    poison: list[str | bytes] = [
        line[:-1] + ', "reposts": ' + "9" * 5000 + "}",  # int() refuses 4,300+ digits
        b'{"platform": "weibo", "id": "x\xff", "text": "t"}',
        line[:-1] + ', "vendor": NaN}',
    ]
    big = dict(records[20], id="big", reposts=10**20, author={"id": "1", "followers": "9" * 23})
    lines: list[str | bytes] = [*_dumps(records[:30]), *poison, json.dumps(big), *_dumps(records[30:])]
    out = io.StringIO()
    summary = run_backtest(config_from_dict(CONFIG), lines, out)
    assert summary.rejected["bad_number"] == 1 and summary.rejected["bad_encoding"] == 1
    assert summary.duplicates == 1  # the NaN line is records[10] again, kept
    assert summary.posts == len(records) + 1  # "big" is kept, its counts clamped
    assert [json.loads(x)["event"] for x in out.getvalue().splitlines()]
    assert parse_post(big).reposts == MAX_COUNT


@pytest.fixture
def posts_file(tmp_path: Path) -> Path:
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(_dumps(_records()[:200])) + "\n", encoding="utf-8")
    return path


def _backtest(tmp_path: Path, input: Path, output: Path) -> tuple[int, str]:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[classifier]\ntype = "lexicon"\n', encoding="utf-8")
    result = CliRunner().invoke(
        app, ["backtest", "--config", str(cfg), "--input", str(input), "--output", str(output)]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative"])
def test_backtest_refuses_to_write_over_its_input(tmp_path: Path, posts_file: Path, how: str) -> None:
    before = posts_file.read_bytes()
    output = posts_file
    if how == "symlink":
        output = tmp_path / "alerts.jsonl"
        output.symlink_to(posts_file)
    elif how == "hardlink":
        output = tmp_path / "alerts.jsonl"
        os.link(posts_file, output)
    elif how == "relative":
        output = posts_file.parent / "." / posts_file.name
    code, out = _backtest(tmp_path, posts_file, output)
    assert code == 2
    assert "is the input file" in out and len(out.strip().splitlines()) == 1
    assert posts_file.read_bytes() == before


def test_backtest_refuses_directories(tmp_path: Path, posts_file: Path) -> None:
    code, out = _backtest(tmp_path, tmp_path, tmp_path / "alerts.jsonl")
    assert code == 2 and "--input" in out and "directory" in out
    code, out = _backtest(tmp_path, posts_file, tmp_path)
    assert code == 2 and "--output" in out and "directory" in out
    code, out = _backtest(tmp_path, posts_file, tmp_path / "new" / "alerts.jsonl")
    assert code == 0, out
    assert (tmp_path / "new" / "alerts.jsonl").is_file()
