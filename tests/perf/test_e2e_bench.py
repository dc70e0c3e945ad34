"""The end-to-end bench itself: it runs, and what it reports is well formed (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sentinel.post import parse_post_json

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import e2e  # noqa: E402


def test_load_writes_canonical_posts_at_the_asked_total(tmp_path: Path) -> None:
    load = e2e.Load(tmp_path / "feed.jsonl", brands=3, speedup=4.0)
    episode = load.start_episode(1000.0)
    load.write(1000.0, 50)
    load.write(1100.0, 120)  # the whole crisis (70 s at 4x) is due: it counts towards the total
    load.close()
    lines = (tmp_path / "feed.jsonl").read_text(encoding="utf-8").splitlines()
    posts = [parse_post_json(line) for line in lines]
    assert len(posts) == load.written >= 120
    assert len({p.id for p in posts}) == len(posts)  # fresh ids: nothing is a duplicate
    assert episode.first_written == 1000.0 and not episode.posts
    reposts = [p for p in posts if p.repost_of]
    ids = {p.id for p in posts}
    assert reposts and all(p.repost_of in ids for p in reposts)  # cascades point at their roots
    assert load.newest_before(episode.brand, 1050.0) == 1000.0
    assert load.episode_for(episode.brand, 1050.0) is episode


def test_histogram_quantiles_between_two_scrapes() -> None:
    name = "h"
    before = {f"{name}_bucket|0.1": 0.0, f"{name}_bucket|1.0": 0.0, f"{name}_bucket|+Inf": 0.0}
    after = {f"{name}_bucket|0.1": 50.0, f"{name}_bucket|1.0": 100.0, f"{name}_bucket|+Inf": 100.0}
    q = e2e.histogram_quantiles(before, after, name)
    assert q["n"] == 100
    assert q["p50"] == 0.1
    assert 0.9 < q["p95"] <= 1.0


def test_ramp_runs_end_to_end_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "e2e.py"),
        "ramp",
        "--rates", "20",
        "--step", "10",
        "--warmup", "2",
        "--crisis-every", "3",
        "--classifier", "lexicon",
        "--settle", "1",
        "--grace", "2",
        "--workdir", str(tmp_path / "work"),
        "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    (step,) = result["steps"]
    assert step["target_rate"] == 20
    assert step["written_per_s"] > 0 and step["ingested_per_s"] > 0
    assert step["peak_rss_mib"] > 0 and step["cpu_cores"] >= 0
    for key in ("served_to_notified", "tick_to_notified", "first_crisis_post_to_opened"):
        assert set(step["alerts"][key]) == {"n", "p50", "p95", "p99", "max"}
    assert result["table_sizes_end"]["posts"] > 0
    assert result["exit_codes"]["all"] == 0  # the daemon stopped cleanly on SIGTERM


def test_bench_brands_never_match_each_others_watch() -> None:
    names = e2e.BRANDS
    assert len(set(names)) == len(names) >= 40
    assert not [(a, b) for a in names for b in names if a != b and a in b]
    assert all(e2e.SIM_BRAND not in b for b in names)
