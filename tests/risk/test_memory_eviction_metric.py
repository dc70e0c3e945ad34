"""The story index's cap evictions reach Prometheus (`sentinel_risk_index_evictions_total`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry
from risk_helpers import post

from sentinel.config import config_from_dict
from sentinel.obs.metrics import Metrics
from sentinel.risk import build_risk_engine


def _evictions(registry: CollectorRegistry, kind: str) -> float:
    return registry.get_sample_value("sentinel_risk_index_evictions_total", {"kind": kind}) or 0.0


def test_cap_evictions_are_counted_by_kind(start: datetime) -> None:
    registry = CollectorRegistry()
    cfg = {
        "watch": [{"name": "艾克美", "query": "艾克美"}],
        "risk": {"max_story_posts": 200, "max_stories": 100},
    }
    engine = build_risk_engine(config_from_dict(cfg), metrics=Metrics(registry))
    t = start
    for minute in range(12):
        engine.observe(
            [
                post(
                    f"{minute}-{i}",
                    f"艾克美第{minute}分钟第{i}条：{minute * 131 + i * 17}号门店",
                    t,
                    negative=0.1,
                )
                for i in range(30)
            ]
        )
        t += timedelta(minutes=1)
        engine.evaluate(t)
    assert engine.stories.posts <= 200 and len(engine.stories) <= 100
    assert _evictions(registry, "post") == engine.stories.evicted_posts > 0
    assert _evictions(registry, "story") == engine.stories.evicted_stories > 0


def test_no_evictions_below_the_caps(start: datetime) -> None:
    registry = CollectorRegistry()
    engine = build_risk_engine(
        config_from_dict({"watch": [{"name": "艾克美", "query": "艾克美"}]}), metrics=Metrics(registry)
    )
    engine.observe([post(str(i), f"艾克美第{i}条", start, negative=0.1) for i in range(50)])
    engine.evaluate(start + timedelta(minutes=1))
    assert _evictions(registry, "post") == _evictions(registry, "story") == 0.0
