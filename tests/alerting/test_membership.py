"""Which posts belong to a watch, decided once when stored, used by every view (issue 23).

A crisis cascade of reposts whose own words never name the brand ("扩散", "气死了[怒]",
"转发微博", reposts of reposts), some stored before the post they repost, some in one batch
in reverse order: ``export --watch``, the report's top stories and ``response effect`` all
count every post that belongs. SQLite and PostgreSQL (``db_url``).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sentinel.alerting.posts import load_watch_posts, story_roots
from sentinel.alerting.report import build_report
from sentinel.alerting.responses import ResponseEvent, evaluate_effect
from sentinel.clock import ManualClock
from sentinel.config import Config, StorageConfig, config_from_dict
from sentinel.obs.metrics import Metrics
from sentinel.post import Author, Post, ScoredPost
from sentinel.store import SqlStore
from sentinel.store.membership import Membership
from sentinel.store.watches import WatchPost

from .conftest import T0, H

REACTIONS = ("扩散", "气死了[怒]", "转发微博", "太恶心了吧", "[怒][怒]")
BRAND = "9000001"


def _sp(
    pid: str, when: datetime, text: str, *, repost_of: str | None = None, author: str = "u", neg: float = 0.9
) -> ScoredPost:
    post = Post(
        "weibo",
        pid,
        text,
        when,
        Author(f"{author}{pid}" if author == "u" else author, f"用户{pid}", 100),
        repost_of=repost_of,
    )
    return ScoredPost(post, neg, "negative" if neg >= 0.65 else "neutral", {})


def cascade(seed: int = 7, n: int = 240) -> tuple[list[ScoredPost], set[str], set[str]]:
    """The crisis stream: (posts, ids that belong to acme, ids that do not)."""
    rng = random.Random(seed)
    posts = [_sp("o1", T0, "艾克美酸奶喝出虫子，恶心死了")]
    belong = {"o1"}
    for i in range(n):  # a repost every 30 s for two hours, of the original or of a repost
        parent = rng.choice([*[p.post.id for p in posts if p.post.id in belong][-20:], "o1"])
        text = rng.choice(REACTIONS)
        if parent != "o1":
            text = f"{text}//@用户{parent}:{rng.choice(REACTIONS)}"
        posts.append(_sp(f"r{i}", T0 + (i + 1) * timedelta(seconds=30), text, repost_of=parent))
        belong.add(f"r{i}")
    # reposts stored before their original (out of order), a repost of one of them too
    posts.append(_sp("late1", T0 + 10 * timedelta(minutes=1), "扩散", repost_of="o2"))
    posts.append(_sp("late2", T0 + 11 * timedelta(minutes=1), "转发微博", repost_of="late1"))
    belong |= {"late1", "late2"}
    # the brand's own clarification (no brand name in it) and a repost of it
    posts.append(
        _sp("own1", T0 + 90 * timedelta(minutes=1), "【辟谣】关于网传信息的说明", author=BRAND, neg=0.88)
    )
    posts.append(_sp("own1r", T0 + 91 * timedelta(minutes=1), "终于说话了", repost_of="own1", neg=0.3))
    belong |= {"own1", "own1r"}
    # not the watch's: chatter, a repost of chatter, a repost of a post never seen
    others = [
        _sp("u1", T0 + 5 * timedelta(minutes=1), "今天天气不错", neg=0.1),
        _sp("u2", T0 + 6 * timedelta(minutes=1), "转发微博", repost_of="u1", neg=0.1),
        _sp("x1", T0 + 7 * timedelta(minutes=1), "扩散", repost_of="never-seen"),
    ]
    return [*posts, *others], belong, {p.post.id for p in others}


def _config(url: str) -> Config:
    return config_from_dict(
        {"storage": {"url": url}, "watch": [{"name": "acme", "query": "艾克美 OR ACME", "accounts": [BRAND]}]}
    )


async def _store(url: str) -> SqlStore:
    store = SqlStore(StorageConfig(url=url), Metrics(CollectorRegistry()))
    await store.open()
    return store


async def _write_stream(store: SqlStore, posts: list[ScoredPost]) -> None:
    """Batches as a collector delivers them: the late reposts first, their original last, one
    chain inside a batch in reverse order."""
    by_id = {sp.post.id: sp for sp in posts}
    first = [by_id["late2"], by_id["late1"]]
    rest = [sp for sp in posts if sp.post.id not in ("late1", "late2")]
    batches = [first, *(rest[i : i + 20] for i in range(0, len(rest), 20))]
    batches[2] = list(reversed(batches[2]))  # reposts before the reposts they repost
    o2 = _sp("o2", T0 + 9 * timedelta(minutes=1), "ACME 的酸奶也出问题了")
    batches.append([o2])  # the original of the late reposts arrives last
    for batch in batches:
        await store.write_batch([(sp, "test") for sp in batch], [], model="m", now=T0 + 3 * H)


@pytest.fixture
async def cascaded(db_url: str) -> Any:
    posts, belong, others = cascade()
    store = await _store(db_url)
    try:
        await store.use_watches(Membership.from_config(_config(db_url)))
        await _write_stream(store, posts)
        yield store, belong | {"o2"}, others
    finally:
        await store.close()


async def test_every_post_that_belongs_is_the_watchs(cascaded: Any) -> None:
    store, belong, others = cascaded
    rows = await store.watch_posts("acme")
    got = {r.scored.post.id: r.via for r in rows}
    assert set(got) == belong and not set(got) & others
    assert got["o1"] == got["o2"] == "match"
    assert got["own1"] == "own" and got["own1r"] == "repost"
    assert got["late1"] == got["late2"] == "repost"  # stored before their original
    assert sum(v == "repost" for v in got.values()) == len(belong) - 3
    times = [r.scored.post.created_at for r in rows]
    assert times == sorted(times)
    assert await store.count_watch_posts("acme") == len(belong)


async def test_one_query_reads_what_keyset_pages_read(cascaded: Any) -> None:
    """The report reads a watch's posts in one query (``watch_posts``), export in keyset pages
    (``iter_watch_posts``): the same posts, in the same order, whole or within bounds."""
    store, belong, _ = cascaded
    for since, until in ((None, None), (T0 + 7 * timedelta(minutes=1), T0 + H)):
        pages: list[int] = []
        whole = await store.watch_posts("acme", since, until, page=7, on_page=pages.append)
        paged = [wp async for wp in store.iter_watch_posts("acme", since, until, page=7)]
        assert [_read(wp) for wp in whole] == [_read(wp) for wp in paged]
        assert sum(pages) == len(whole) == await store.count_watch_posts("acme", since, until)
        assert max(pages) == 7 and len(pages) > 2
    assert {wp.scored.post.id for wp in await store.watch_posts("acme")} == belong


def _read(wp: WatchPost) -> tuple[dict[str, Any], str]:
    return wp.scored.to_dict(), wp.via


async def test_export_watch_returns_the_cascade(
    cascaded: Any, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentinel.cli import _export

    _, belong, _ = cascaded
    await _export(_config(db_url), None, None, "acme")
    exported = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert set(exported) == belong and len(exported) == len(belong)
    # before: the query on each post's own text found only the originals that name the brand
    text_matched = [sp.post.id for sp in cascade()[0] if "艾克美" in sp.post.text or "ACME" in sp.post.text]
    assert len(text_matched) == 1 and len(exported) > 200


async def test_report_top_story_is_the_cascade_and_the_brand_responds(cascaded: Any, db_url: str) -> None:
    store, belong, _ = cascaded
    data = await build_report(
        store,
        _config(db_url),
        "acme",
        since=T0,
        until=T0 + 3 * H,
        clock=ManualClock(T0 + 3 * H),
        progress=False,
    )
    assert data.posts == len(belong)
    top = data.stories[0]
    assert top.key == "o1" and top.posts == 241  # the original and all 240 reposts, chains included
    # the brand's 【辟谣】 (P(neg) 0.88) is a response, not a negative post
    assert "own1" not in {sp.post.id for sp in data.notable}
    [own] = [r for r in data.responses if r.note and "辟谣" in r.note]
    assert own.kind == "clarification" and own.at == T0 + 90 * timedelta(minutes=1)


async def test_response_effect_counts_the_reposts(cascaded: Any, db_url: str) -> None:
    store, belong, _ = cascaded
    found = await load_watch_posts(store, _config(db_url), "acme", since=T0, until=T0 + 3 * H)
    assert len(found.posts) == len(belong) and [sp.post.id for sp in found.own] == ["own1"]
    own = next(sp for sp in found.posts if sp.post.id == "own1")
    assert own.label == "neutral" and own.negative == 0.0  # not negative evidence
    response = ResponseEvent(1, "acme", T0 + H, "clarification")
    effect = evaluate_effect(response, found.posts, [], now=T0 + 3 * H, window=H)
    volume = effect.comparison("volume (posts/h)")
    judged = [sp for sp in found.posts if effect.after[0] <= sp.post.created_at < effect.after[1]]
    assert volume.n_after == len(judged) > 20  # the reposts, which name no brand, are counted
    assert effect.verdict != "not enough data"


async def test_reposts_of_reposts_join_the_original_story() -> None:
    posts, _, _ = cascade(n=30)
    roots = story_roots(posts)
    assert all(roots[f"r{i}"] == "o1" for i in range(30))
    assert roots["late2"] == "o2" and roots["u2"] == "u1" and roots["x1"] == "never-seen"


async def test_a_store_from_before_is_decided_at_start_and_again_when_the_query_changes(db_url: str) -> None:
    posts, belong, _ = cascade(n=40)
    store = await _store(db_url)
    try:
        await _write_stream(store, posts)  # written with no watches known (a store from before 0002)
        assert await store.count_watch_posts("acme") == 0
        decided = await store.use_watches(Membership.from_config(_config(db_url)))
        expected = len(belong) + 1  # and o2
        assert decided == {"acme": expected} and await store.count_watch_posts("acme") == expected
        assert await store.use_watches(Membership.from_config(_config(db_url))) == {}  # nothing changed
        narrower = config_from_dict(
            {"storage": {"url": db_url}, "watch": [{"name": "acme", "query": "ACME", "accounts": [BRAND]}]}
        )
        decided = await store.use_watches(Membership.from_config(narrower))
        got = {r.scored.post.id for r in await store.watch_posts("acme")}
        assert decided == {"acme": 5} and got == {"o2", "late1", "late2", "own1", "own1r"}
    finally:
        await store.close()


def test_accounts_config() -> None:
    cfg = config_from_dict({"watch": [{"name": "a", "query": "x", "accounts": [123, " 456 "]}]})
    assert cfg.watches[0].accounts == ["123", "456"] and cfg.watches[0].options == {}
    assert config_from_dict({"watch": [{"name": "a", "query": "x"}]}).watches[0].accounts == []
    with pytest.raises(Exception, match=r"watch\[0\]\.accounts"):
        config_from_dict({"watch": [{"name": "a", "query": "x", "accounts": [True]}]})


def test_the_engine_does_not_count_the_brands_posts_as_negative() -> None:
    from sentinel.risk import build_risk_engine

    def negative_weight(accounts: list[str]) -> float:
        cfg = config_from_dict({"watch": [{"name": "acme", "query": "艾克美", "accounts": accounts}]})
        engine = build_risk_engine(cfg)
        engine.observe(
            [
                _sp(f"b{i}", T0 + i * timedelta(seconds=20), "艾克美【声明】", author=BRAND, neg=0.95)
                for i in range(20)
            ]
        )
        engine.evaluate(T0 + 10 * timedelta(minutes=1))
        [watch] = engine.watches
        assert watch.posts > 5  # counted as posts of the watch (one author: weighted down)
        return watch.negative

    assert negative_weight([]) > 5
    assert negative_weight([BRAND]) == 0.0


async def test_the_daemon_decides_as_it_stores(tmp_path: Any) -> None:
    """``sentinel run`` end to end: a file of the cascade (late reposts before their original)
    through the bus, the classifier and the store; the watch's posts are decided on the way."""
    import asyncio

    from sentinel.pipeline import Runtime

    posts, belong, _ = cascade(n=60)
    o2 = _sp("o2", T0 + 9 * timedelta(minutes=1), "ACME 的酸奶也出问题了")
    lines = [sp.post.to_dict() for sp in [*posts, o2]]
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in lines), encoding="utf-8")
    cfg = config_from_dict(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/sentinel.db"},
            "metrics": {"enabled": False},
            "classifier": {"type": "lexicon"},
            "source": [{"name": "replay", "type": "file", "path": str(path)}],
            "watch": [{"name": "acme", "query": "艾克美 OR ACME", "accounts": [BRAND]}],
        },
        environ={},
    )
    runtime = Runtime(cfg, metrics=Metrics(CollectorRegistry()), notifiers=[])
    await runtime.start()
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while await runtime.store.count_posts() < len(lines):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        got = {r.scored.post.id: r.via for r in await runtime.store.watch_posts("acme")}
    finally:
        await runtime.stop()
    assert set(got) == belong | {"o2"} and got["own1"] == "own" and got["late2"] == "repost"


def test_db_upgrade_decides_an_old_stores_watches(tmp_path: Any) -> None:
    import asyncio

    from typer.testing import CliRunner

    from sentinel.cli import app

    url = f"sqlite:///{tmp_path}/old.db"
    posts, belong, _ = cascade(n=30)

    async def fill() -> None:  # written with no watch decisions, as before migration 0002
        store = await _store(url)
        try:
            await _write_stream(store, posts)
        finally:
            await store.close()

    asyncio.run(fill())
    cfg = tmp_path / "sentinel.toml"
    cfg.write_text(
        f'[storage]\nurl = "{url}"\n\n[[watch]]\nname = "acme"\nquery = "艾克美 OR ACME"\naccounts = ["{BRAND}"]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["db", "upgrade", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert f"watch acme: {len(belong) + 1} stored post(s)" in result.output
    again = CliRunner().invoke(app, ["db", "upgrade", "--config", str(cfg)])
    assert "watch acme" not in again.output  # decided once
