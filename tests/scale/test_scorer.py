"""The scorer role: event-time order behind the collectors' watermarks, equal to the backtest."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from sentinel.backtest import run_backtest
from sentinel.config import Config, config_from_dict
from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.nlp.scoring import Scorer
from sentinel.obs.metrics import Metrics
from sentinel.post import parse_post
from sentinel.roles import WATERMARK_PREFIX, ScoreRole, Watermark
from sentinel.store import SqlStore

from .support import WindowEngine, stream

WATCHES = {"acme": "艾克美"}


def _config(tmp_path: Path) -> Config:
    return config_from_dict(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/s.db"},
            "metrics": {"enabled": False},
            "classifier": {"type": "lexicon"},
            "watch": [{"name": "acme", "query": "艾克美"}],
        },
        environ={},
    )


def _backtest(cfg: Config, records: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    out = io.StringIO()
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    scorer = Scorer(LexiconClassifier(), cfg.classifier, Metrics())
    run_backtest(cfg, lines, out, engine=WindowEngine(WATCHES), scorer=scorer)
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def _mark(store: SqlStore, records: list[dict], *, idle: bool) -> None:  # type: ignore[type-arg]
    mark = Watermark("replay", idle=idle)
    for r in records:
        ts = parse_post(r).created_at.timestamp()
        mark.buckets[int(ts // 3600)] = mark.buckets.get(int(ts // 3600), 0) + 1
        mark.max_ts = ts if mark.max_ts is None else max(mark.max_ts, ts)
    import time

    mark.at = time.time()
    await store.set_cursor(WATERMARK_PREFIX + "replay", mark.to_json())


async def test_scorer_waits_for_the_watermark_and_matches_the_backtest(
    tmp_path: Path, metrics: Metrics
) -> None:
    cfg = _config(tmp_path)
    records = stream(6000)
    expected = _backtest(cfg, records)
    assert {"opened", "escalated", "deescalated", "resolved"} <= {e["event"] for e in expected}

    role = ScoreRole(cfg, metrics=metrics, risk=WindowEngine(WATCHES), poll=0)
    await role.store.open()
    await role._take_over()
    scorer = Scorer(LexiconClassifier(), cfg.classifier, metrics)
    posts = [parse_post(r) for r in records]
    # three "workers" store in shuffled batches: pk order is not stream order
    order = list(range(len(posts)))
    rng = random.Random(3)
    chunks = [order[i : i + 300] for i in range(0, len(order), 300)]
    published: list[dict] = []  # type: ignore[type-arg]
    for n, chunk in enumerate(chunks):
        published.extend(records[i] for i in chunk)
        await _mark(role.store, published, idle=n == len(chunks) - 1)
        batch = [posts[i] for i in chunk]
        rng.shuffle(batch)
        half = len(batch) // 2
        # only part of what the collector published is stored yet: the scorer must wait
        await role.store.write_batch(
            [(sp, "replay") for sp in scorer.score_now(batch[:half])],
            [],
            model="lexicon",
            now=posts[0].created_at,
        )
        before = role.horizon
        await role.step()
        assert role.horizon <= min(p.created_at.timestamp() for p in batch[half:]) or role.horizon == before
        await role.store.write_batch(
            [(sp, "replay") for sp in scorer.score_now(batch[half:])],
            [],
            model="lexicon",
            now=posts[0].created_at,
        )
        while await role.step():
            pass
    assert role.observed == len(records)
    got = [json.loads(json.dumps(ev.to_json(), ensure_ascii=False, sort_keys=True)) for ev in role.events]
    assert got == expected
    stored = [ev.to_json() for ev in await role.store.alert_events()]
    assert [(e["event"], e["level"], e["at"]) for e in stored] == [
        (e["event"], e["level"], e["at"]) for e in expected
    ]
    await role.store.close()


async def test_without_watermarks_posts_are_scored_once_settled(tmp_path: Path, metrics: Metrics) -> None:
    cfg = _config(tmp_path)
    role = ScoreRole(cfg, metrics=metrics, risk=WindowEngine(WATCHES), poll=0)
    await role.store.open()
    await role._take_over()
    scorer = Scorer(LexiconClassifier(), cfg.classifier, metrics)
    posts = [parse_post(r) for r in stream(50)]
    from datetime import UTC, datetime, timedelta

    stored_at = datetime.now(UTC) - timedelta(seconds=10)
    await role.store.write_batch(
        [(sp, "x") for sp in scorer.score_now(posts[:40])], [], model="l", now=stored_at
    )
    await role.store.write_batch(
        [(sp, "x") for sp in scorer.score_now(posts[40:])], [], model="l", now=datetime.now(UTC)
    )
    assert await role.step()
    assert role.observed == 40  # the last ten were stored just now: not settled yet
    # a restarted scorer resumes after its saved horizon and observes nothing twice
    again = ScoreRole(cfg, metrics=Metrics(), risk=WindowEngine(WATCHES), poll=0)
    again.store = role.store
    await again._take_over()
    assert len(again.processed) == 40 and not await again.step()
    await role.store.close()


async def test_a_standby_scorer_takes_over_and_the_sequence_continues(
    tmp_path: Path, metrics: Metrics
) -> None:
    import asyncio

    from sqlalchemy.exc import OperationalError

    from .conftest import eventually

    cfg = _config(
        tmp_path,
    )
    records = stream(6000)
    expected = _backtest(cfg, records)
    scorer = Scorer(LexiconClassifier(), cfg.classifier, metrics)
    posts = [parse_post(r) for r in records]

    leader = ScoreRole(cfg, metrics=metrics, risk=WindowEngine(WATCHES), poll=0.01, lease_ttl=1.0)
    leader.holder = "leader"
    standby = ScoreRole(cfg, metrics=Metrics(), risk=WindowEngine(WATCHES), poll=0.01, lease_ttl=1.0)
    standby.holder = "standby"
    await leader.start()
    await standby.start()
    try:
        first, second = records[:3000], records[3000:]
        await leader.store.write_batch(
            [(sp, "replay") for sp in scorer.score_now(posts[:3000])], [], model="l", now=posts[0].created_at
        )
        await _mark(leader.store, first, idle=True)

        async def caught_up(role: ScoreRole, n: int) -> bool:
            return role.observed >= n

        # generous deadlines: on a loaded 2-core box running the whole suite the leader once
        # took more than 20 s over these 3,000 posts (3 s alone); a pass returns at once
        await eventually(lambda: caught_up(leader, 3000), within=120)
        assert standby.risk is None and standby.observed == 0  # a standby does nothing
        await leader.stop()  # releases the lease
        batch = [(sp, "replay") for sp in scorer.score_now(posts[3000:])]
        for attempt in range(120):
            # the standby, now scoring, may hold the SQLite file for a while on a loaded machine
            # (20 tries over 10 s were not enough on a 2-core box running the suite slowly): a
            # writer waits and tries again, as the daemon's own writer does (store/retry.py)
            try:
                await standby.store.write_batch(batch, [], model="l", now=posts[0].created_at)
                break
            except OperationalError:
                if attempt == 119:
                    raise
                await asyncio.sleep(0.5)
        await _mark(standby.store, first + second, idle=True)
        await eventually(lambda: caught_up(standby, 3000), within=120)
        await asyncio.sleep(0.1)
        stored = [ev.to_json() for ev in await standby.store.alert_events()]
        assert [(e["event"], e["level"], e["at"]) for e in stored] == [
            (e["event"], e["level"], e["at"]) for e in expected
        ]
    finally:
        # both: a leader left running when the test fails leaks its SQLite connection into the
        # next test's unraisable-exception check (a second call to stop does nothing)
        await leader.stop()
        await standby.stop()


async def test_a_stopping_scorer_finishes_its_step_and_frees_the_lease(
    tmp_path: Path, metrics: Metrics
) -> None:
    """Stop lets the scorer's loop end between steps instead of cancelling it: a step cancelled
    inside its write transaction once left a SQLite connection holding the write lock, and the
    standby and the ingest then retried for minutes."""
    from datetime import UTC, datetime

    from .conftest import eventually

    cfg = _config(tmp_path)
    role = ScoreRole(cfg, metrics=metrics, risk=WindowEngine(WATCHES), poll=0.01, lease_ttl=5.0)
    role.holder = "leader"
    await role.start()
    try:
        scorer = Scorer(LexiconClassifier(), cfg.classifier, metrics)
        records = stream(500)
        await role.store.write_batch(
            [(sp, "replay") for sp in scorer.score_now([parse_post(r) for r in records])],
            [],
            model="l",
            now=datetime.now(UTC),
        )
        await _mark(role.store, records, idle=True)

        async def leading() -> bool:
            return role.observed >= 500

        await eventually(leading, within=120)
    finally:
        await role.stop()
    assert role._lead_task is not None and role._lead_task.done() and not role._lead_task.cancelled()
    other = SqlStore(cfg.storage, Metrics())
    await other.open()
    try:
        assert await other.lease("scorer", "standby", ttl=5.0).holder_now() is None
        # nothing holds the file: a write goes through at once (busy_timeout would wait 10 s)
        await other.write_batch([], [], model="l", now=datetime.now(UTC))
    finally:
        await other.close()


async def test_with_live_data_quiet_periods_still_cool_alerts_down(tmp_path: Path, metrics: Metrics) -> None:
    from datetime import UTC, datetime, timedelta

    from sentinel.clock import ManualClock

    wall = ManualClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    cfg = _config(tmp_path)
    role = ScoreRole(cfg, metrics=metrics, clock=wall, risk=WindowEngine(WATCHES, window=300), poll=0)
    await role.store.open()
    await role._take_over()
    scorer = Scorer(LexiconClassifier(), cfg.classifier, metrics)
    # a burst of negative posts in the last two minutes (live: created just now)
    start = wall.now() - timedelta(minutes=2)
    burst = [
        parse_post(
            {**r, "created_at": (start + timedelta(seconds=i)).isoformat(), "text": "艾克美 太差了 垃圾 投诉"}
        )
        for i, r in enumerate(stream(20))
    ]
    await role.store.write_batch(
        [(sp, "live") for sp in scorer.score_now(burst)], [], model="l", now=wall.now() - timedelta(seconds=5)
    )
    assert await role.step()
    assert [e.event for e in role.events] == ["opened", "escalated"]
    # no new posts; the wall clock moves on: the window empties and the alert resolves
    wall.advance(timedelta(minutes=6))
    assert not await role.step()
    assert [e.event for e in role.events][-1] == "resolved"
    await role.store.close()


async def test_the_scorer_stamps_silences_and_acknowledgements_on_its_events(
    tmp_path: Path, metrics: Metrics
) -> None:
    """Issue 20: silences and acks made through the CLI or the API reach the scorer's events."""
    from datetime import timedelta

    from sentinel.alerting.manage import AlertManager
    from sentinel.clock import ManualClock

    cfg = _config(tmp_path)
    records = stream(4000)
    posts = [parse_post(r) for r in records]
    wall = ManualClock(posts[0].created_at)
    role = ScoreRole(cfg, metrics=metrics, clock=wall, risk=WindowEngine(WATCHES), poll=0)
    await role.store.open()
    await role._take_over()
    manager = AlertManager(role.store, wall)
    # a planned campaign: silenced for the first 2,500 s of event time
    silence = await manager.silence(
        "acme", until=posts[2500].created_at, actor="li.na", reason="campaign", starts=posts[0].created_at
    )
    assert silence.active(posts[100].created_at)
    scorer = Scorer(LexiconClassifier(), cfg.classifier, metrics)
    stored_at = posts[0].created_at - timedelta(seconds=10)
    for lo, hi in ((0, 2300), (2300, 4000)):
        await role.store.write_batch(
            [(sp, "replay") for sp in scorer.score_now(posts[lo:hi])], [], model="l", now=stored_at
        )
        await _mark(role.store, records[:hi], idle=True)
        while await role.step():
            pass
        if lo == 0:
            opened = [ev for ev in role.events if ev.event == "opened"]
            assert opened and all(ev.factors.get("silenced") for ev in role.events)
            await manager.ack(opened[-1].alert_id or 0, actor="wang.li", note="on it")
    later = [ev for ev in role.events if ev.at >= posts[2300].created_at]
    assert later, "the second half raised no event"
    assert any(ev.factors.get("acked_by") == "wang.li" for ev in later)
    assert not any(ev.factors.get("silenced") for ev in later if ev.at >= posts[2500].created_at)
    stored = await role.store.alert_events()
    assert [ev.factors.get("acked_by") for ev in stored] == [ev.factors.get("acked_by") for ev in role.events]
    await role.store.close()


async def test_the_scorers_tuning_is_config(tmp_path: Path, metrics: Metrics) -> None:
    import pytest

    from sentinel.config import ConfigError

    with pytest.raises(ConfigError, match=r"scale\.step_limit"):
        config_from_dict({"scale": {"step_limit": 0}}, environ={})
    with pytest.raises(ConfigError, match=r"scale\.settle"):
        config_from_dict({"scale": {"settle": "inf"}}, environ={})
    cfg = _config(tmp_path).model_copy(
        update={"scale": config_from_dict({"scale": {"step_limit": 250, "settle": "1s"}}, environ={}).scale}
    )
    assert cfg.scale.step_limit == 250 and cfg.scale.settle == 1.0
    # a step takes at most step_limit posts, so the lease is renewed between steps
    records = stream(1000)
    expected = _backtest(cfg, records)
    role = ScoreRole(cfg, metrics=metrics, risk=WindowEngine(WATCHES), poll=0)
    await role.store.open()
    try:
        await role._take_over()
        scorer = Scorer(LexiconClassifier(), cfg.classifier, metrics)
        posts = [parse_post(r) for r in records]
        await role.store.write_batch(
            [(sp, "replay") for sp in scorer.score_now(posts)], [], model="l", now=posts[0].created_at
        )
        await _mark(role.store, records, idle=True)
        assert await role.step()
        assert role.observed == 250
        while await role.step():
            pass
        assert role.observed == 1000
        stored = [ev.to_json() for ev in await role.store.alert_events()]
        assert [(e["event"], e["level"]) for e in stored] == [(e["event"], e["level"]) for e in expected]
    finally:
        await role.store.close()
