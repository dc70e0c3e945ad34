"""``sentinel backtest`` speed-ups that must not change a byte: the classification cache, the
worker process and whole-chunk engine calls (docs/risk.md, "Backtest speed")."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sentinel.backtest import run_backtest
from sentinel.config import config_from_dict
from sentinel.nlp.base import Scores
from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.nlp.scoring import Scorer, TextCache
from sentinel.obs.metrics import Metrics
from sentinel.post import ScoredPost
from sentinel.risk import build_risk_engine
from sentinel.risk.base import AlertEvent
from sentinel.risk.engine import Engine
from sentinel.simulate.scenario import generate

CONFIG = {"classifier": {"type": "lexicon"}, "watch": [{"name": "艾克美", "query": "艾克美 OR ACME"}]}
START = datetime.fromisoformat("2026-11-02T00:00:00+08:00")


def _records() -> list[dict[str, Any]]:
    """Three days with a sudden viral crisis: reposts repeat their texts, alerts open and close."""
    return list(generate("sudden_viral", start=START, seed=3, days=3, volume=20))


def _lines(records: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in records]


def _late(records: list[dict[str, Any]], seed: int = 7) -> list[dict[str, Any]]:
    """Every 20th post arrives up to five minutes late (a slow collector), and a few twice."""
    rng = random.Random(seed)
    out = list(records)
    for i in range(len(out) - 1, 0, -20):
        j = min(len(out) - 1, i + rng.randrange(1, 60))
        out.insert(j, out.pop(i))
    out += [dict(out[k], reposts=out[k]["reposts"] + 5) for k in range(100, len(out), 997)]
    return out


class _OneByOne:
    """The default engine behind a plain RiskEngine: the backtest must feed it a post at a time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def observe(self, posts: Sequence[ScoredPost]) -> None:
        self.engine.observe(posts)

    def evaluate(self, now: datetime) -> list[AlertEvent]:
        return self.engine.evaluate(now)

    def warm_start(self, posts: Sequence[ScoredPost], open_levels: dict[str, str], now: datetime) -> None:
        self.engine.warm_start(posts, open_levels, now)


def _run(lines: list[str], **kw: Any) -> tuple[str, Any]:
    out = io.StringIO()
    summary = run_backtest(config_from_dict(CONFIG), lines, out, **kw)
    return out.getvalue(), summary


def test_whole_chunks_give_the_same_bytes_as_one_post_at_a_time_even_with_late_posts() -> None:
    lines = _lines(_late(_records()))
    chunked, summary = _run(lines)
    single, single_summary = _run(lines, engine=_OneByOne(build_risk_engine(config_from_dict(CONFIG))))
    assert chunked == single
    assert summary.render() == single_summary.render()
    events = [json.loads(line) for line in chunked.splitlines()]
    assert {e["event"] for e in events} >= {"opened", "resolved"}
    assert summary.duplicates > 0


def test_each_distinct_text_is_classified_once_and_the_output_is_unchanged() -> None:
    records = _records()
    lines = _lines(records)
    cached, summary = _run(lines)
    uncached, small = _run(lines, cache_size=1)
    assert cached == uncached  # the lexicon scores a text alike in any batch
    distinct = len({r["text"] for r in records})
    assert summary.classified == distinct
    assert summary.classified + summary.cache_hits == len(records)
    assert summary.cache_hits > len(records) // 2  # reposts repeat "转发微博", "扩散", ...
    assert small.classified > summary.classified
    assert f"classified: {distinct} texts" in summary.render()


def test_a_worker_process_gives_the_same_bytes_as_classifying_here() -> None:
    lines = _lines(_records()[:1500])
    here, summary = _run(lines, worker=False)
    there, worker_summary = _run(lines, worker=True)
    assert here == there
    assert worker_summary.classified == summary.classified


def test_posts_that_carry_scores_are_not_classified_again() -> None:
    records = _records()[:500]
    for r in records:
        r["sentiment"] = {"label": "negative", "negative": 0.9}
    _, summary = _run(_lines(records))
    assert summary.classified == 0 and summary.posts == 500


class _Counting:
    """A real classifier that remembers what it was asked (the lexicon underneath)."""

    name = "counting"

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._lexicon = LexiconClassifier()

    def classify(self, texts: Sequence[str]) -> list[Scores]:
        self.asked += texts
        return self._lexicon.classify(texts)


def test_scorer_cache_asks_the_classifier_once_per_distinct_text() -> None:
    config = config_from_dict(CONFIG)
    counting = _Counting()
    scorer = Scorer(counting, config.classifier, Metrics(), cache_size=10_000)
    records = _records()[:400]
    from sentinel.post import parse_post

    posts = [parse_post(r) for r in records]
    first = scorer.score_now(posts[:200])
    second = scorer.score_now(posts[200:])
    assert sorted(counting.asked) == sorted({p.text for p in posts})
    assert scorer.classified == len(counting.asked)
    plain = Scorer(LexiconClassifier(), config.classifier, Metrics()).score_now(posts)
    assert [(s.negative, s.label) for s in first + second] == [(s.negative, s.label) for s in plain]


def test_text_cache_evicts_the_least_recently_used() -> None:
    cache: TextCache[int] = TextCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the oldest
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert (cache.hits, cache.misses, len(cache)) == (3, 1, 2)


def test_a_dense_backtest_classifies_each_distinct_text_once() -> None:
    """What keeps a dense backtest fast: 10k posts, the classifier asked once per distinct text
    and every repeat served from the cache. How fast is measured by bench/backtest_speed.py
    (docs/risk.md), not asserted here: a timed floor failed on a loaded 2-core CI box."""
    records = list(generate("background", start=START, seed=0, days=0.5, volume=3000))[:10_000]
    _, summary = _run(_lines(records))
    distinct = len({r["text"] for r in records})
    assert summary.posts == len(records) and distinct < len(records) // 10
    assert (summary.classified, summary.cache_hits) == (distinct, len(records) - distinct)
    assert summary.first is not None and summary.last is not None
    assert summary.last - summary.first < timedelta(days=2)


def test_skipping_quiet_ticks_gives_the_same_bytes_as_running_every_tick(monkeypatch: Any) -> None:
    # a sparse stream (a few posts an hour) and a second watch whose baseline closes its
    # hours at :30 (utc_offset 5.5): quiet stretches end at posts and at both kinds of hour
    config = {
        **CONFIG,
        "watch": [*CONFIG["watch"], {"name": "acme-in", "query": "ACME OR 艾克美", "utc_offset": 5.5}],
    }
    lines = _lines(_late(list(generate("sudden_viral", start=START, seed=5, days=3, volume=4))))
    ticks: list[float] = []
    real_tick = Engine._tick

    def counted(self: Engine, t: float) -> list[AlertEvent]:
        ticks.append(t)
        return real_tick(self, t)

    monkeypatch.setattr(Engine, "_tick", counted)

    def run() -> str:
        out = io.StringIO()
        run_backtest(config_from_dict(config), lines, out)
        return out.getvalue()

    skipping = run()
    skipped = len(ticks)
    ticks.clear()
    monkeypatch.setattr(Engine, "_skip_to", lambda self, t, end: t + self.options.tick)
    stepping = run()
    assert skipping == stepping
    assert {json.loads(line)["watch"] for line in skipping.splitlines()} == {"艾克美", "acme-in"}
    assert skipped < len(ticks) / 3  # most ticks of a sparse stream are quiet
    assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks)
