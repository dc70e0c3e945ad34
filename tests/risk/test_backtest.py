"""The engine through the lead's ``run_backtest``: event time, deterministic, explainable."""

from __future__ import annotations

import io
import json
from datetime import datetime

from sentinel.backtest import run_backtest
from sentinel.config import config_from_dict, level_rank
from sentinel.simulate.scenario import generate

CONFIG = {"classifier": {"type": "lexicon"}, "watch": [{"name": "艾克美", "query": "艾克美 OR ACME"}]}


def _lines() -> list[str]:
    start = datetime.fromisoformat("2026-11-28T12:00:00+08:00")
    return [json.dumps(r, ensure_ascii=False) for r in generate("demo", start=start, seed=1)]


def test_backtest_is_byte_for_byte_deterministic_and_alerts() -> None:
    lines = _lines()
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        run_backtest(config_from_dict(CONFIG), lines, out)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    events = [json.loads(line) for line in outputs[0].splitlines()]
    assert events[0]["event"] == "opened"
    assert max(level_rank(e["level"]) for e in events) >= 3
    assert set(events[0]) == {"event", "watch", "level", "risk", "at", "factors", "posts"}
    # the factors explain the score: on a cold start (no baseline yet) the anomaly is carried by
    # the factors that need none -- here the complaint's repost velocity
    first = events[0]["factors"]
    parts = {
        k: first[k]["contribution"]
        for k in ("volume", "negative_share", "velocity", "spread", "reach", "kol", "topic")
    }
    assert parts["velocity"] > 0 and parts["volume"] == parts["spread"] == 0
    assert abs(sum(parts.values()) - events[0]["risk"]) < 1.0
