"""The story index is bounded by count as well as by time, and what it keeps is what matters:
used posts, recent and large stories (issue 10)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
from risk_helpers import post

from sentinel.config import config_from_dict
from sentinel.risk import build_risk_engine
from sentinel.risk.stories import StoryIndex, minhash_signatures
from sentinel.risk.text import fold

COMPLAINT = "艾克美的酸奶喝出了异物，孩子喝完拉肚子，太恶心了！"


def _random_text(rng: random.Random, n: int = 20) -> str:
    return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(n))


def _sig(text: str) -> np.ndarray | None:
    return minhash_signatures([fold(text)])[0]


def test_post_keys_are_capped_and_evictions_counted() -> None:
    evicted: list[tuple[str, int]] = []
    idx = StoryIndex(max_posts=1000, on_evict=lambda kind, n: evicted.append((kind, n)))
    for i in range(10_000):
        idx.assign(("weibo", str(i)), float(i), "转发", "root", None)  # one story, many keys
        idx.expire(float(i))
    assert idx.posts == 1000 and idx.evicted_posts == 9000
    assert sum(n for kind, n in evicted if kind == "post") == 9000
    assert not idx.knows(("weibo", "0")) and idx.knows(("weibo", "9999"))
    assert len(idx._post_queue) == 1000 and len(idx._post_ts) <= 1000 + 4096  # no stale slots


def test_a_used_post_outlives_unused_ones() -> None:
    idx = StoryIndex(max_posts=100)
    idx.assign(("weibo", "hot"), 0.0, COMPLAINT, None, _sig(COMPLAINT))
    for i in range(1000):
        idx.assign(("weibo", f"p{i}"), float(i), f"无关的第{i}条帖子内容", None, None)
        if i % 50 == 0:
            assert idx.story_of(("weibo", "hot")) is not None  # re-sighted: a second chance each round
    assert idx.knows(("weibo", "hot"))
    assert not idx.knows(("weibo", "p0"))


def test_stories_are_capped_keeping_large_ones_for_near_duplicates() -> None:
    idx = StoryIndex(max_stories=500, max_posts=100_000)
    big, _ = idx.assign(("weibo", "big"), 0.0, COMPLAINT, None, _sig(COMPLAINT))
    for i in range(30):  # a repost cascade makes it large
        idx.assign(("weibo", f"r{i}"), 1.0 + i, "转发微博", "big", None)
    big.size = 31  # the engine counts the posts into the story
    small_text = "今天在艾克美门店买了一瓶新口味的饮料试试看"
    small, _ = idx.assign(("weibo", "small"), 40.0, small_text, None, _sig(small_text))
    rng = random.Random(7)
    for i in range(700):  # a long tail of one-post stories, each its own text
        text = _random_text(rng)
        idx.assign(("weibo", f"t{i}"), 50.0 + i, text, None, _sig(text))
        idx.expire(50.0 + i)
    assert len(idx) <= 500 and idx.evicted_stories >= 200
    # the large story is still there for a copy of its complaint to join
    copy = "扩散！艾克美的酸奶喝出了异物，孩子喝完拉肚子，太恶心了！！[怒]"
    joined, by_text = idx.assign(("weibo", "copy"), 800.0, copy, None, _sig(copy))
    assert joined is big and by_text
    # the quiet one-post story went: its near-duplicate starts a story of its own
    again = "今天在艾克美门店买了一瓶新口味的饮料试试看吧"
    other, by_text = idx.assign(("weibo", "again"), 801.0, again, None, _sig(again))
    assert other is not small and not by_text
    # band keys of evicted stories are gone with them
    assert set(idx._bands.values()) <= set(idx.stories)


def test_a_repost_chain_survives_its_root_key(start: datetime) -> None:
    idx = StoryIndex(max_posts=50, max_stories=1000)
    root, _ = idx.assign(("weibo", "root"), 0.0, COMPLAINT, None, _sig(COMPLAINT))
    for i in range(200):
        idx.assign(("weibo", f"x{i}"), 1.0 + i, f"别的话题{i}", None, None)
    assert not idx.knows(("weibo", "root"))  # the key went, the story (named after it) did not
    story, _ = idx.assign(("weibo", "late"), 300.0, "转发微博", "root", None)
    assert story is root


def test_engine_stays_within_its_caps_and_still_alerts(start: datetime) -> None:
    cfg = {
        "watch": [{"name": "艾克美", "query": "艾克美"}],
        "risk": {"max_story_posts": 2000, "max_stories": 300},
    }
    engine = build_risk_engine(config_from_dict(cfg))
    t = start
    # two hours of everyday chatter, every post its own text: far more than the caps
    for minute in range(120):
        batch = [
            post(
                f"{minute}-{i}",
                f"艾克美今天第{minute}分钟的第{i}条：{minute * 131 + i * 17}号门店",
                t + timedelta(seconds=i),
                negative=0.1,
            )
            for i in range(60)
        ]
        engine.observe(batch)
        t += timedelta(minutes=1)
        engine.evaluate(t)
        assert engine.stories.posts <= 2000 and len(engine.stories) <= 300
    assert engine.stories.evicted_posts > 0 and engine.stories.evicted_stories > 0
    # then a complaint spreads as copies by many voices: grouped into one story, and alerted
    crisis = [
        post(
            f"c{i}", f"扩散{i % 3}！{COMPLAINT}", t + timedelta(seconds=i * 2), author=f"v{i}", negative=0.95
        )
        for i in range(150)
    ]
    events = []
    for i in range(0, 150, 15):
        engine.observe(crisis[i : i + 15])
        events += engine.evaluate(crisis[min(i + 15, 149)].post.created_at + timedelta(seconds=1))
    events += engine.evaluate(t + timedelta(minutes=6))
    assert any(e.event == "opened" for e in events)
    top = max(engine.stories.stories.values(), key=lambda s: s.size)
    assert top.size >= 140  # the copies found each other despite the caps
    assert engine.stories.posts <= 2000 and len(engine.stories) <= 300
