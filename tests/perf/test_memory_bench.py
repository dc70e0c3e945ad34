"""bench/memory.py runs and reports the engine's structure sizes (no timing or byte asserts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import memory  # noqa: E402


def test_memory_bench_reports_bounded_structures(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    events = tmp_path / "events.jsonl"
    result = memory.main(
        [
            "--rate", "40", "--duration", "120", "--every", "30", "--brands", "2", "--crisis-every", "60",
            "--options", json.dumps({"max_story_posts": 1000, "short_window": 60}),
            "--events", str(events), "--out", str(out),
        ]
    )  # fmt: skip
    rows = result["rows"]
    assert [r["t"] for r in rows] == [30, 60, 90, 120]
    assert rows[-1]["posts"] >= 40 * 120
    assert all(r["post_keys"] <= 1000 for r in rows)  # the cap holds
    assert rows[-1]["entries"] < rows[-1]["posts"]  # the 60 s window, not the stream
    assert all("traced_mib" in r for r in rows)
    assert json.loads(out.read_text(encoding="utf-8"))["rows"] == rows
    for line in events.read_text(encoding="utf-8").splitlines():
        assert json.loads(line)["event"] in ("opened", "escalated", "deescalated", "resolved")
