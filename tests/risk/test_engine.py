from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from risk_helpers import post, reposts_of, score

from sentinel.config import WatchConfig, config_from_dict, level_rank
from sentinel.obs.metrics import Metrics
from sentinel.post import ScoredPost
from sentinel.risk import Engine, RiskEngine, Silence, build_risk_engine
from sentinel.risk.base import AlertEvent
from sentinel.simulate.scenario import generate

WATCH = {"name": "艾克美", "query": "艾克美 OR ACME"}


def _engine(**risk: object) -> Engine:
    return build_risk_engine(config_from_dict({"watch": [WATCH], "risk": risk}))


def _replay(engine: RiskEngine, posts: list[ScoredPost], batch: float, until: datetime) -> list[AlertEvent]:
    """Feed posts in event-time batches of ``batch`` seconds, evaluating after each."""
    events: list[AlertEvent] = []
    i = 0
    edge = posts[0].post.created_at
    while i < len(posts):
        edge += timedelta(seconds=batch)
        chunk = []
        while i < len(posts) and posts[i].post.created_at < edge:
            chunk.append(posts[i])
            i += 1
        engine.observe(chunk)
        events += engine.evaluate(edge)
    events += engine.evaluate(until)
    return events


@pytest.fixture(scope="module")
def demo() -> list[ScoredPost]:
    start = datetime.fromisoformat("2026-11-28T12:00:00+08:00")
    return score(generate("demo", start=start, seed=0))


def test_engine_satisfies_the_protocol() -> None:
    engine: RiskEngine = _engine()
    assert engine.evaluate(datetime.fromisoformat("2026-11-28T12:00:00+08:00")) == []


def test_demo_cold_start_alerts_within_40s_and_escalates(demo: list[ScoredPost]) -> None:
    onset = next(sp.post.created_at for sp in demo if sp.post.extra["label"]["phase"] == "crisis")
    events = _replay(_engine(), demo, 1.0, demo[-1].post.created_at)
    yellow = next(e for e in events if level_rank(e.level) >= 2)
    assert (yellow.at - onset).total_seconds() <= 40
    assert max(level_rank(e.level) for e in events) >= 3
    first = events[0]
    assert first.event == "opened" and first.watch == "艾克美"
    assert {"volume", "negative_share", "velocity", "reach", "kol", "topic"} <= set(first.factors)
    for name in ("negative_share", "velocity"):
        assert {"value", "baseline", "contribution"} <= set(first.factors[name])
    assert first.posts and first.samples
    assert {"id", "text", "author", "followers", "url", "negative"} <= set(first.samples[0])
    assert first.factors["silenced"] is False


def test_background_alone_raises_nothing(demo: list[ScoredPost]) -> None:
    background = [sp for sp in demo if sp.post.extra["label"]["phase"] == "background"]
    assert _replay(_engine(), background, 1.0, background[-1].post.created_at) == []


def test_results_do_not_depend_on_batching(demo: list[ScoredPost]) -> None:
    end = demo[-1].post.created_at + timedelta(hours=2)
    runs = []
    for batch in (0.5, 7.0, 60.0):
        events = _replay(_engine(), demo, batch, end)
        runs.append("\n".join(json.dumps(e.to_json(), ensure_ascii=False, sort_keys=True) for e in events))
    assert runs[0] and runs[0] == runs[1] == runs[2]
    # ... and the alert resolves once the crisis is over
    assert runs[0].splitlines()[-1].startswith('{"at"') and '"event": "resolved"' in runs[0].splitlines()[-1]


def test_three_angry_posts_are_not_an_alert(start: datetime) -> None:
    engine = _engine()
    posts = [post(str(i), "艾克美太恶心了，垃圾，再也不买", start + timedelta(seconds=i)) for i in range(3)]
    engine.observe(posts)
    assert engine.evaluate(start + timedelta(minutes=5)) == []


def test_reposts_of_a_matching_post_count_even_without_the_brand(start: datetime) -> None:
    engine = _engine()
    root = post("root", "艾克美酸奶喝出异物，孩子拉肚子，太恶心了", start, followers=5000)
    reposts = [
        post(f"r{i}", "转发微博", start + timedelta(seconds=1 + i), repost_of="root", negative=0.5)
        for i in range(120)
    ]
    engine.observe([root, *reposts])
    events = engine.evaluate(start + timedelta(minutes=3))
    assert events and level_rank(events[-1].level) >= 2
    assert events[-1].factors["stories"][0]["id"] == "root"
    assert events[-1].factors["stories"][0]["size"] >= 10  # reposts joined the root story


def test_silences_mark_events_but_keep_them(demo: list[ScoredPost]) -> None:
    engine = _engine()
    t0 = demo[0].post.created_at.timestamp()
    engine.set_silences([Silence("*", t0, t0 + 3600, "planned campaign")])
    events = _replay(engine, demo, 5.0, demo[-1].post.created_at)
    assert events
    assert all(e.factors["silenced"] and e.factors["silence"] == "planned campaign" for e in events)


def test_warm_start_emits_nothing_and_keeps_the_open_level(demo: list[ScoredPost]) -> None:
    crisis_end = demo[-1].post.created_at
    engine = _engine()
    engine.warm_start(demo, {"艾克美": "red"}, crisis_end)
    assert engine.watches[0].levels.level == 4
    later = engine.evaluate(crisis_end + timedelta(hours=3))
    assert [e.event for e in later][-1] == "resolved"
    assert all(e.event in ("deescalated", "resolved") for e in later)


def test_metrics_are_exported(demo: list[ScoredPost]) -> None:
    registry = CollectorRegistry()
    engine = Engine([WatchConfig(**WATCH)], metrics=Metrics(registry))
    _replay(engine, demo, 2.0, demo[-1].post.created_at)
    assert registry.get_sample_value("sentinel_watch_level", {"watch": "艾克美"}) >= 2
    assert registry.get_sample_value("sentinel_watch_risk_score", {"watch": "艾克美"}) > 0
    assert registry.get_sample_value("sentinel_watch_volume_posts", {"watch": "艾克美"}) > 0
    # alert-event counters are the daemon's (it counts what it stores), not the engine's
    assert (
        registry.get_sample_value(
            "sentinel_alert_events_total", {"watch": "艾克美", "level": "blue", "event": "opened"}
        )
        is None
    )


def test_fast_post_from_a_high_reach_author(start: datetime) -> None:
    engine = _engine(fast_post={"followers": 1_000_000, "velocity": 10})
    kol = post("k", "艾克美充电宝爆炸起火，太吓人了", start, followers=3_000_000, verified=True)
    reposts = [
        post(f"r{i}", "转发微博", start + timedelta(seconds=2 * i + 1), repost_of="k", negative=0.5)
        for i in range(40)
    ]
    engine.observe([kol, *reposts])
    events = engine.evaluate(start + timedelta(seconds=90))
    fast = [e for e in events if "fast_post" in e.factors]
    assert fast and fast[0].factors["fast_post"]["story"] == "k"
    assert len({e.watch for e in events}) == 1  # grouped under the watch's one alert


def test_bad_options_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"risk\.weights"):
        _engine(weights={"loudness": 1.0})
    with pytest.raises(ValueError, match=r"watch 'w'.*query"):
        build_risk_engine(config_from_dict({"watch": [{"name": "w", "query": "(a OR"}]}))
    with pytest.raises(ValueError, match="quiet_hours"):
        build_risk_engine(config_from_dict({"watch": [{"name": "w", "query": "a", "quiet_hours": "late"}]}))


def test_memory_is_bounded_by_the_windows(start: datetime) -> None:
    engine = _engine(story_ttl="1h")
    t = start
    for hour in range(6):
        batch = [
            post(
                f"{hour}-{i}",
                f"艾克美酸奶第{hour}小时第{i}条，挺好喝",
                t + timedelta(seconds=i * 3),
                negative=0.2,
            )
            for i in range(1200)
        ]
        engine.observe(batch)
        t += timedelta(hours=1)
        engine.evaluate(t)
    watch = engine.watches[0]
    assert len(watch.entries) <= 200  # the short window, not the stream
    assert len(engine.stories) <= 2 * 1200 + 1


def test_quiet_hours_mark_low_levels_silenced(demo: list[ScoredPost]) -> None:
    # the demo runs at 12:00 UTC+8: make that a quiet hour for anything below red
    watch = {**WATCH, "quiet_hours": "11:00-13:00", "quiet_min_level": "red"}
    engine = build_risk_engine(config_from_dict({"watch": [watch]}))
    events = _replay(engine, demo, 5.0, demo[-1].post.created_at)
    below = [e for e in events if level_rank(e.level) < 4]
    red = [e for e in events if e.level == "red"]
    assert below and all(e.factors["silenced"] and e.factors["silence"] == "quiet hours" for e in below)
    assert red and not any(e.factors["silenced"] for e in red)


def test_traditional_posts_match_a_simplified_query(start: datetime) -> None:
    engine = build_risk_engine(config_from_dict({"watch": [{"name": "w", "query": "艾克美 AND 质量"}]}))
    posts = [
        post(str(i), "艾克美的質量問題太嚴重了，垃圾", start + timedelta(seconds=i), negative=0.95)
        for i in range(40)
    ]
    engine.observe(posts)
    engine.evaluate(start + timedelta(minutes=2))
    assert len(engine.watches[0].entries) == 40


def test_a_cheerful_cascade_stays_at_most_blue(start: datetime) -> None:
    # a feel-good post reposted 400 times in ten minutes: most reposts add nothing, a quarter
    # of those with words carry a "sad" emoticon the model misreads as negative
    engine = _engine()
    root = post("root", "暖心！艾克美小哥暴雨中救起落水老人，好样的[赞]", start, followers=3000, negative=0.1)
    words = ("感动[泪]//@某人:好样的", "好样的！//@某人:好样的", "赞一个[赞]", "太暖了")
    reposts = [
        post(
            f"r{i}",
            words[(i // 2) % 4] if i % 2 == 0 else "转发微博",
            start + timedelta(seconds=1 + i * 1.5),
            repost_of="root",
            negative=(0.85 if (i // 2) % 4 == 0 else 0.1) if i % 2 == 0 else 0.4,
        )
        for i in range(400)
    ]
    engine.observe([root, *reposts])
    events = engine.evaluate(start + timedelta(minutes=30))
    assert all(level_rank(e.level) <= 1 for e in events)


def test_a_bare_repost_spreads_the_tone_of_what_it_reposts(start: datetime) -> None:
    # "转发微博" under an alarming post is not calm, whatever the model reads in those four
    # characters; under a cheerful one it is not negative
    engine = _engine()
    alarm = post("a", "艾克美酸奶喝出玻璃渣，孩子嘴都划破了！", start, negative=0.95)
    calm = post("c", "艾克美新品上市，大家快来尝尝", start, negative=0.05)
    bare = [
        post(
            f"{root.post.id}{i}",
            "转发微博",
            start + timedelta(seconds=5 + i),
            repost_of=root.post.id,
            negative=0.6,
        )
        for root in (alarm, calm)
        for i in range(5)
    ]
    engine.observe([alarm, calm, *bare])
    engine.evaluate(start + timedelta(minutes=1))
    by_story = {}
    for e in engine.watches[0].entries:
        by_story.setdefault(e.story, []).append(e.negative)
    assert min(by_story["a"][1:]) >= 0.8  # spreads the alarm
    assert max(by_story["c"][1:]) < 0.3  # and not a complaint the model half-read into it


def test_a_reaction_asking_whether_it_is_true_is_a_voice_of_the_story(start: datetime) -> None:
    # a rumour the reader finds calm, and reactions it reads as questions (neutral): people
    # asking whether it is true take it seriously -- voices of the story, unless switched off
    root = post("r", "网传艾克美工厂停产，员工说发不出工资了", start, negative=0.3)
    asking = ("真的假的？", "求证，是真的吗", "不会吧……", "天哪", "太可怕了吧")
    reposts = reposts_of("r", asking, start + timedelta(seconds=10), ids="q", authors="u", negative=0.45)
    other = reposts_of(
        "r", ["支持一下"] * 3, start + timedelta(seconds=20), ids="o", authors="v", negative=0.45
    )
    for serious, expect in ((0.8, 0.8), (0.0, 0.0)):
        engine = _engine(serious_reactions=serious)
        engine.observe([root, *reposts, *other])
        engine.evaluate(start + timedelta(minutes=1))
        by_author = {e.author: e.negative for e in engine.watches[0].entries}
        assert [by_author[f"u{i}"] for i in range(5)] == [expect] * 5
        assert all(by_author[f"v{i}"] == 0.0 for i in range(3))  # the others are read as before
        story = engine.stories.stories["r"]
        assert story.serious == (5 if serious else 0)  # what the alert's spread line will say
    with pytest.raises(ValueError, match="serious_reactions"):
        _engine(serious_reactions=1.5)
    # a repost whose original was never seen starts its story and is counted there too
    engine = _engine()
    engine.observe([post("q", "真的假的？艾克美", start, repost_of="unseen", negative=0.45)])
    engine.evaluate(start + timedelta(minutes=1))
    assert [s.serious for s in engine.stories.stories.values()] == [1]


def test_cheerful_reactions_overrule_a_misread_original(start: datetime) -> None:
    # a celebrity's joke the model misreads as a complaint (P 0.95), then the crowd laughs
    # along: after five cheerful reactions the bare reposts no longer spread a "complaint";
    # an alarming original whose reactions are alarmed or doubting keeps its darkness
    def cascade(pid: str, text: str, reaction: str, p: float) -> list[ScoredPost]:
        root = post(pid, text, start, negative=0.95, followers=5_000_000, verified=True)
        words = reposts_of(pid, [reaction] * 6, start + timedelta(seconds=5), ids=f"{pid}w", negative=p)
        bare = reposts_of(pid, ["转发微博"] * 6, start + timedelta(seconds=20), ids=f"{pid}b", negative=0.13)
        return [root, *words, *bare]

    joke = cascade("j", "艾克美代言人又来搞笑了[衰][衰]一定是打开方式不对", "哈哈哈好可爱[爱你]", 0.02)
    alarm = cascade("a", "艾克美酸奶喝出玻璃渣，孩子嘴都划破了！", "真的假的，太可怕了", 0.9)
    for doubt in (True, False):
        engine = _engine(doubt_root=doubt)
        engine.observe([*joke, *alarm])
        engine.evaluate(start + timedelta(minutes=1))
        by_author = {e.author: e.negative for e in engine.watches[0].entries}
        joke_bare = [by_author[f"jb{i}"] for i in range(6)]
        assert all(by_author[f"ab{i}"] >= 0.75 for i in range(6))  # the alarm spreads either way
        if doubt:
            assert max(joke_bare) < 0.5  # not negative voices
            assert engine.stories.stories["j"].root_heard == 0.0
            assert engine.stories.stories["a"].root_heard == engine.stories.stories["a"].root_negative
        else:
            assert min(joke_bare) >= 0.75


def test_neutral_reactions_spread_their_story_only_when_asked(start: datetime) -> None:
    # an alarming original, two angry reposts, then reposts the model labels neutral ("已阅")
    root = post("r", "艾克美奶粉被曝检出致癌物", start, negative=0.95)
    angry = reposts_of("r", ["太恶心了"] * 2, start + timedelta(seconds=5), ids="a", negative=0.95)
    calm = [  # labelled neutral at P(negative) 0.1: what a model with a learnt neutral class says
        ScoredPost(
            post(f"n{i}", "已阅", start + timedelta(seconds=10 + i), author=f"n{i}", repost_of="r").post,
            0.1,
            "neutral",
        )
        for i in range(3)
    ]
    for spreads in (False, True):
        engine = _engine(neutral_spreads=spreads)
        engine.observe([root, *angry, *calm])
        engine.evaluate(start + timedelta(minutes=1))
        story = engine.stories.stories["r"]
        by_author = {e.author: e.negative for e in engine.watches[0].entries}
        if spreads:  # passed on like bare reposts: the story's tone, and not part of it
            assert story.words_n == 2
            assert all(by_author[f"n{i}"] >= 0.99 for i in range(3))
        else:  # words of their own: counted in the tone, spreading 0.8 of the original
            assert story.words_n == 5
            assert all(abs(by_author[f"n{i}"] - 0.8) < 1e-9 for i in range(3))


def test_a_dark_cascade_against_a_quiet_baseline_reaches_yellow_fast(start: datetime) -> None:
    # a week of a small brand's chatter (about 3 posts an hour), then one rumour reposted
    # 40 times in ten minutes with alarmed reactions: yellow within minutes, from the story
    engine = _engine()
    chatter = []
    t = start - timedelta(days=7)
    i = 0
    while t < start:
        chatter.append(
            post(
                f"bg{i}", f"艾克美今天的第{i}条日常", t, author=f"u{i % 500}", negative=0.3 if i % 4 else 0.9
            )
        )
        t += timedelta(minutes=20)
        i += 1
    root = post("rumour", "网传艾克美工厂用过期原料，有员工爆料", start, followers=50_000, negative=0.7)
    reacts = ("太恶心了", "真的假的？奇葩", "三观尽毁", "再也不买了[怒]", "转发微博")
    reposts = [
        post(
            f"re{k}",
            reacts[k % 5],
            start + timedelta(seconds=15 * (k + 1)),
            author=f"r{k}",
            repost_of="rumour",
            negative=0.9 if k % 5 != 4 else 0.6,
        )
        for k in range(40)
    ]
    engine.observe([*chatter, root])
    engine.evaluate(start)
    engine.observe(reposts)
    events = engine.evaluate(start + timedelta(minutes=10))
    yellow = [e for e in events if level_rank(e.level) >= 2]
    assert yellow, [(e.event, e.level, e.risk) for e in events]
    first = yellow[0]
    assert first.at - start <= timedelta(minutes=5)
    assert first.factors["spread"]["contribution"] > 0
    assert first.factors["spread"]["story"]["id"] == "rumour"
    # "真的假的？奇葩" is every fifth reaction: the event says how many ask whether it is true
    seen = sum(1 for r in reposts if r.post.created_at < first.at)
    assert first.factors["spread"]["story"]["serious"] == (seen + 3) // 5


def test_a_lasting_shift_becomes_the_new_normal(start: datetime) -> None:
    # two quiet days, then the brand is simply talked about three times as much, and more
    # critically, for good: an alert may open, but it must not stay open forever
    engine = _engine()
    posts = []
    t, i = start, 0
    while t < start + timedelta(days=5):
        shifted = t >= start + timedelta(days=2)
        step = timedelta(seconds=20 if shifted else 60)
        negative = 0.9 if (i % 3 == 0 if shifted else i % 10 == 0) else 0.2
        posts.append(
            post(str(i), "艾克美的酸奶" + ("太差了" if negative > 0.5 else "还行"), t, negative=negative)
        )
        t += step
        i += 1
    events = _replay(engine, posts, 600.0, t)
    opened = [e for e in events if e.event == "opened"]
    assert events and events[-1].event == "resolved"
    last = events[-1].at
    assert last - start < timedelta(days=4), (len(opened), last)


def test_a_second_sighting_adds_counter_growth_not_a_post(start: datetime) -> None:
    engine = _engine()
    first = post("k", "艾克美充电宝爆炸起火", start, followers=2_000_000, verified=True, reposts=10)
    engine.observe([first])
    engine.evaluate(start + timedelta(seconds=30))
    again = post("k", "艾克美充电宝爆炸起火", start, followers=2_000_000, verified=True, reposts=410)
    engine.observe([again])
    engine.evaluate(start + timedelta(seconds=60))
    watch = engine.watches[0]
    assert len(watch.entries) == 1  # the same post, counted once
    assert watch.story_vel["k"] >= 400  # its 400 new reposts count as spread


def test_posts_dated_in_the_future_count_as_arriving_now(start: datetime) -> None:
    # a source that labels UTC times +08:00: its posts look eight hours ahead
    engine = _engine()
    ahead = [post(str(i), "艾克美太差了", start + timedelta(hours=8, seconds=i)) for i in range(5)]
    engine.observe(ahead)
    engine.evaluate(start)
    engine.evaluate(start + timedelta(seconds=20))
    assert engine.future == 5
    assert len(engine.watches[0].entries) == 5


def test_a_future_post_behind_ordinary_ones_counts_as_arriving_now(start: datetime) -> None:
    # the engine keeps a bound on the queue's newest post instead of scanning the queue at
    # every evaluation: a post far ahead must still be caught after the queue emptied and refilled
    engine = _engine()
    engine.observe([post("a", "艾克美太差了", start)])
    engine.evaluate(start + timedelta(seconds=20))
    engine.observe([post("b", "艾克美太差了", start + timedelta(seconds=25))])
    engine.evaluate(start + timedelta(seconds=30))
    engine.observe(
        [
            post("c", "艾克美太差了", start + timedelta(seconds=35)),
            post("d", "艾克美太差了", start + timedelta(hours=8)),
        ]
    )
    engine.evaluate(start + timedelta(seconds=40))
    assert engine.future == 1
    engine.evaluate(start + timedelta(seconds=60))
    assert len(engine.watches[0].entries) == 4
