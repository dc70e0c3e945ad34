"""The windows keep numbers, not posts: only negative entries carry a voice, and samples
still come out complete (issue 10: the engine's memory at high rates)."""

from __future__ import annotations

import random
from collections import deque
from datetime import datetime, timedelta

from risk_helpers import post

from sentinel.config import WatchConfig, config_from_dict
from sentinel.risk import build_risk_engine
from sentinel.risk.options import EngineOptions, WatchOptions
from sentinel.risk.watch import WatchState
from sentinel.risk.window import Entry, TimedFifo, Voice, Window

WATCH = {"name": "艾克美", "query": "艾克美 OR ACME"}


def test_entries_hold_no_scored_post_and_only_negatives_a_voice(start: datetime) -> None:
    engine = build_risk_engine(config_from_dict({"watch": [WATCH]}))
    posts = [
        post(str(i), f"艾克美第{i}条消息", start + timedelta(seconds=i), negative=0.9 if i % 4 == 0 else 0.1)
        for i in range(200)
    ]
    engine.observe(posts)
    engine.evaluate(start + timedelta(seconds=201))
    entries = list(engine.watches[0].entries)
    assert len(entries) == 200
    assert "post" not in Entry.__slots__
    negative = [e for e in entries if e.voice is not None]
    assert len(negative) == 50 and all(e.negative >= 0.5 for e in negative)
    assert all(e.negative < 0.5 for e in entries if e.voice is None)
    # negative posts share one voice object across the watches they match, keyed by the post
    assert {e.key for e in negative} == {("weibo", str(i)) for i in range(0, 200, 4)}


def test_alert_samples_are_the_posts_themselves(start: datetime) -> None:
    engine = build_risk_engine(config_from_dict({"watch": [WATCH]}))
    posts = []
    for i in range(120):
        p = post(
            f"n{i}",
            f"艾克美酸奶喝出异物第{i}次，太恶心了，要求退款",
            start + timedelta(seconds=i * 5),
            author=f"a{i}",
            followers=1000 + i,
            negative=0.95,
        )
        p.post.url = f"https://m.weibo.cn/detail/n{i}"
        posts.append(p)
    by_id = {p.post.id: p for p in posts}
    events = []
    for i in range(0, 120, 10):
        engine.observe(posts[i : i + 10])
        events += engine.evaluate(posts[min(i + 10, 119)].post.created_at)
    assert events and events[0].event == "opened"
    for ev in events:
        assert ev.samples and len(ev.samples) <= 5 and len(ev.posts) <= 10
        assert [s["id"] for s in ev.samples] == ev.posts[: len(ev.samples)]
        for s in ev.samples:
            sp = by_id[s["id"]]
            assert s == {
                "id": sp.post.id,
                "text": sp.post.text,
                "author": sp.post.author.name,
                "followers": sp.post.author.followers,
                "url": sp.post.url,
                "negative": round(sp.negative, 3),
            }


def test_hour_voices_cost_one_slot_each_and_compact() -> None:
    fifo = TimedFifo()
    for i in range(20_000):
        fifo.append(float(i), f"a{i % 7}")
        if i % 100 == 0:
            gone = fifo.pop_before(i - 3600.0)
            assert all(a.startswith("a") for a in gone)
    assert len(fifo) == 20_000 - 16_300  # the last pop (at 19,900) left an hour and a bit
    assert fifo.pop_before(19_000.0) == [f"a{i % 7}" for i in range(16_300, 19_000)]
    assert len(fifo) == 1000
    # the float array is compacted: it does not keep the popped slots
    assert len(fifo._ts) <= 2 * len(fifo) + 4096
    assert fifo.pop_before(float("inf")) and len(fifo) == 0 and len(fifo._ts) == 0


def test_hour_of_voices_is_bounded_by_the_hour(start: datetime) -> None:
    engine = build_risk_engine(config_from_dict({"watch": [WATCH]}))
    t = start
    for minute in range(180):
        batch = [
            post(f"{minute}-{i}", f"艾克美不好用{minute}-{i}", t + timedelta(seconds=i * 6), negative=0.9)
            for i in range(10)
        ]
        engine.observe(batch)
        t += timedelta(minutes=1)
        engine.evaluate(t)
    watch = engine.watches[0]
    assert len(watch.hour_voices) <= 61 * 10
    assert len(watch.entries) <= 11 * 10
    assert len(watch.hour_authors) <= 61 * 10


def test_window_columns_behave_like_a_deque_of_entries() -> None:
    rng = random.Random(1)
    window, reference = Window(), deque[Entry]()
    t = 0.0
    for step in range(30_000):
        t += rng.random()
        voice = (
            Voice("weibo", str(step), step, False, 0.0, "帖子", None, None, 0.9)
            if rng.random() < 0.3
            else None
        )
        e = Entry(t, f"s{step % 97}", f"a{step % 13}", 1.0, 0.9 if voice else 0.1, voice)
        window.append(e)
        reference.append(e)
        if step % 37 == 0:
            horizon = t - rng.random() * 300
            gone = window.pop_before(horizon)
            expected = []
            while reference and reference[0].ts < horizon:
                expected.append(reference.popleft())
            assert [(x.ts, x.story, x.author, x.voice) for x in gone] == [
                (x.ts, x.story, x.author, x.voice) for x in expected
            ]
            assert len(window) == len(reference)
    assert [(x.ts, x.story, x.voice) for x in window] == [(x.ts, x.story, x.voice) for x in reference]
    assert [x.voice for x in window.negatives()] == [x.voice for x in reference if x.voice is not None]
    assert len(window._ts) <= 2 * len(window) + 4096  # popped rows are compacted away


def test_a_level_held_by_the_fast_post_floor_raises_no_event(start: datetime) -> None:
    # found by the soak: a fast post from a big account holds the watch at yellow while its
    # score (four voices: a low evidence gate) sits below yellow; that used to emit
    # "deescalated yellow -> yellow" every cooldown
    engine = build_risk_engine(
        config_from_dict({"watch": [WATCH], "risk": {"cooldown": "30s", "resolve_after": "1h"}})
    )
    root = post("kol", "艾克美酸奶喝出异物，孩子急性肠胃炎，客服至今未回应", start, followers=3_000_000)
    events = []
    t = start
    for minute in range(20):
        batch = [
            post(
                f"r{minute}-{i}",
                "转发微博",
                t + timedelta(seconds=i * 2),
                author=f"u{i % 4}",
                repost_of="kol",
            )
            for i in range(30)
        ]
        engine.observe(([root] if minute == 0 else []) + batch)
        t += timedelta(minutes=1)
        events += engine.evaluate(t)
    assert [(e.event, e.level) for e in events] == [("opened", "blue"), ("escalated", "yellow")]
    assert engine.watches[0].levels.level == 2  # still held at yellow


def test_a_watch_keeps_each_storys_size_in_its_window() -> None:
    """``story_n`` (what the alert's top posts rank stories by) is kept up as entries come
    and expire: always the entries per story of the short window."""
    watch = WatchState.from_config(WatchConfig(name="w", query="鹿岭"), WatchOptions(), EngineOptions())
    rng = random.Random(2)
    reference: deque[Entry] = deque()
    t = 0.0
    for step in range(5_000):
        t += rng.random() * 2
        e = Entry(t, f"s{rng.randrange(40)}", f"a{step % 13}", 1.0, 0.1, None)
        watch.add(e)
        reference.append(e)
        if step % 53 == 0:
            watch.expire(t)
            while reference and reference[0].ts < t - watch.short:
                reference.popleft()
            sizes: dict[str, float] = {}
            for x in reference:
                sizes[x.story] = sizes.get(x.story, 0.0) + 1.0
            assert watch.story_n == sizes
