"""The real-cascade stream builder (sentinel.simulate.cascades) on a small file of its format.

The suite itself reads ../shared/data (bench/realsuite.py); these tests make their own
cascades so that they run on a clone without it.
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import datetime
from pathlib import Path

import pytest

from sentinel.post import parse_post
from sentinel.risk.text import fold, is_bare_repost, own_words, takes_seriously
from sentinel.simulate.cascades import UTC8, build_stream, load_cascades, plan_suite

REACTIONS = ("太可怕了", "真的假的？", "奇葩", "支持", "哈哈哈", "", "转发微博", "[泪]", "三观尽毁啊……")


def _cascade(i: int, rumor: bool, size: int, rng: random.Random) -> dict[str, object]:
    t = 0
    reposts = []
    for k in range(size):
        t += int(rng.expovariate(1 / 40)) + 1
        reposts.append([t, f"u{i}-{k}", f"{REACTIONS[k % len(REACTIONS)]}{'' if k % 3 else f' #{i}-{k}'}"])
    return {
        "event": f"ev{i}",
        "rumor": rumor,
        "original": {
            "text": f"第{i}条原博，网传某地出事了，大家看看。",
            "created_at": "2012-09-11T11:34:22+08:00",
            "author": {"followers": 1000 * (i + 1), "verified": i % 2 == 0},
        },
        "reposts": reposts[::-1],  # out of order on purpose: the loader sorts them
    }


def _write_cascades(path: Path, rows: list[dict[str, object]]) -> Path:
    """Rows in the shared cascades file's format (gzipped JSON lines)."""
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    rng = random.Random(7)
    rows = [_cascade(i, rumor=i < 6, size=130 if i < 6 else 160, rng=rng) for i in range(40)]
    path = _write_cascades(tmp_path / "cascades.jsonl.gz", rows)
    return path


def _tone(c: object) -> float:
    # rumours read dark, the rest split between cheerful and harmless
    event = c.event  # type: ignore[attr-defined]
    i = int(event[2:])
    return 0.6 if i < 6 else 0.1 if i % 2 else 0.2


def test_reposts_are_read_by_their_own_words() -> None:
    assert own_words("太可怕了//@某人:转发微博") == "太可怕了"
    assert is_bare_repost("转发微博")
    assert is_bare_repost("//@某人:太可怕了")
    assert is_bare_repost("[泪]") is False  # an emoticon is a reaction
    assert not is_bare_repost("太可怕了//@某人:转发微博")


def test_a_reaction_takes_a_post_seriously_by_its_own_words() -> None:
    for words in (
        "真的假的？",
        "求证",
        "是真的吗",
        "不会吧[怒]",
        "谣言吧",
        "天哪太可怕了",
        "[吃惊][吃惊]",
        "真的?",
    ):
        assert takes_seriously(fold(words)), words
    for words in ("哈哈哈", "支持", "转发微博", "奇葩", "真好看", "好//@某人:真的假的？"):
        assert not takes_seriously(fold(words)), words  # the chain is what others said
    assert takes_seriously(fold("真的假的？//@某人:转发微博"))
    assert takes_seriously(fold("真的嗎"))  # traditional characters fold first


def test_loader_sorts_reposts_in_time(data: Path) -> None:
    cascades = load_cascades(data)
    assert len(cascades) == 40
    assert all(c.reposts == sorted(c.reposts) for c in cascades)
    assert cascades[0].size == 130 and cascades[0].rumor


def test_streams_are_labelled_disjoint_and_shaped_like_weibo(data: Path) -> None:
    cascades = load_cascades(data)
    plans = plan_suite(cascades, _tone, streams=2, seed=3)
    assert [p.half for p in plans] == ["tuning", "held-out"]
    used = [c.event for p in plans for c in (p.crisis, p.viral, *p.harmless, *p.small)]
    assert len(used) == len(set(used))  # no cascade in two streams
    assert not set(plans[0].texts) & set(plans[1].texts)  # nor a background text
    assert all(_tone(p.crisis) >= 0.45 and p.crisis.rumor for p in plans)

    posts = build_stream(plans[0], lambda text: "可怕" in text, days=30.0)
    assert posts == sorted(posts, key=lambda p: (p["created_at"], p["id"]))
    for record in posts[:50]:
        parse_post(record)  # canonical posts
    phases = {p["label"]["phase"] for p in posts}
    assert phases == {"background", "crisis", "decoy"}
    kinds = {p["label"]["kind"] for p in posts if p["label"]["phase"] == "decoy"}
    assert kinds == {"promo", "positive_viral", "harmless"}
    crisis = [p for p in posts if p["label"]["phase"] == "crisis"]
    root = crisis[0]
    assert root["repost_of"] is None and plans[0].brand in root["text"]
    assert root["author"]["followers"] == plans[0].crisis.original["author"]["followers"]
    reposts = crisis[1:]
    assert len(reposts) == plans[0].crisis.size
    assert all(p["repost_of"] == root["id"] for p in reposts)
    assert any(p["text"] == "转发微博" for p in reposts)  # what the platform shows for no words
    # some came through an earlier repost: its author and words follow as a "//@name:" chain
    names = {p["author"]["name"]: p["text"] for p in reposts}
    chained = [p for p in reposts if "//@" in p["text"]]
    assert 0.15 < len(chained) / len(reposts) < 0.45
    for p in chained:
        own, _, rest = p["text"].partition("//@")
        name, _, words = rest.partition(":")
        assert own != "转发微博" and name in names and names[name].startswith(words[:20])
    assert any(is_bare_repost(p["text"]) for p in chained)  # nothing of its own, only the chain
    # the real timing: the k-th repost comes its recorded seconds after the original
    t0 = datetime.fromisoformat(root["created_at"])
    first = plans[0].crisis.reposts[0][0]
    assert (datetime.fromisoformat(reposts[0]["created_at"]) - t0).total_seconds() == pytest.approx(first)
    # every background post names the brand; the daily mean is the stream's volume
    background = [p for p in posts if p["label"]["phase"] == "background" and p["label"]["kind"] is None]
    assert all(plans[0].brand in p["text"] for p in background)
    assert 0.6 * plans[0].volume < len(background) / (30 * 24) < 1.6 * plans[0].volume
    # a celebrity is given the positive viral cascade
    viral = next(p for p in posts if p["label"]["kind"] == "positive_viral")
    assert viral["author"]["followers"] >= 2_000_000 and viral["author"]["verified"]


def test_the_same_plan_builds_the_same_stream(data: Path) -> None:
    cascades = load_cascades(data)
    a = build_stream(plan_suite(cascades, _tone, streams=2, seed=3)[1], lambda t: False, days=30.0)
    b = build_stream(plan_suite(cascades, _tone, streams=2, seed=3)[1], lambda t: False, days=30.0)
    assert a == b
    start = datetime.fromisoformat(a[0]["created_at"])
    assert start.utcoffset() == UTC8.utcoffset(None)


def test_the_background_keeps_its_negative_share_when_its_pool_runs_out(data: Path) -> None:
    cascades = load_cascades(data)
    plan = plan_suite(cascades, _tone, streams=2, seed=3)[0]
    plan.volume = 30.0  # ~21,600 posts: far more than this pool's few hundred texts

    def negative(text: str) -> bool:
        return "可怕" in text

    posts = build_stream(plan, negative, days=30.0)
    background = [p for p in posts if p["label"]["phase"] == "background" and p["label"]["kind"] is None]
    assert len(background) > 20 * len(plan.texts)
    thirds = [background[k * len(background) // 3 : (k + 1) * len(background) // 3] for k in range(3)]
    shares = [sum(negative(p["text"]) for p in part) / len(part) for part in thirds]
    assert all(abs(s - plan.negative_share) < 0.03 for s in shares), (plan.negative_share, shares)


def test_the_fast_start_check_swaps_in_unused_fast_rumours(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import realsuite

    rng = random.Random(11)
    rows = [_cascade(i, rumor=i < 6, size=130 if i < 6 else 160, rng=rng) for i in range(40)]
    # four more rumours: two start fast (30 reposts in the first minutes), one slowly, one small
    for i, (size, gap) in enumerate(((150, 5), (140, 8), (150, 600), (60, 5)), start=40):
        row = _cascade(i, rumor=True, size=size, rng=rng)
        row["reposts"] = [[gap * (k + 1), f"u{i}-{k}", f"第{i}条的反应{k}"] for k in range(size)]
        rows.append(row)
    path = _write_cascades(tmp_path / "cascades.jsonl.gz", rows)
    cascades = load_cascades(path)
    tones = {c.event: _tone(c) if int(c.event[2:]) < 40 else 0.6 for c in cascades}
    dealt = [c for c in cascades if int(c.event[2:]) < 40]  # the suite is dealt without them
    suite = plan_suite(dealt, lambda c: tones[c.event], streams=2)
    before = {c.event for p in suite for c in (p.crisis, p.viral, *p.harmless, *p.small)}
    realsuite._fast_crises(suite, cascades, tones)
    assert {p.crisis.event for p in suite} == {"ev40", "ev41"}
    assert not {p.crisis.event for p in suite} & before
    for p in suite:
        assert not {own_words(t) for t in p.crisis.texts()} & set(p.texts)
    with pytest.raises(ValueError, match="fast-starting crises"):
        realsuite._fast_crises(plan_suite(dealt, lambda c: tones[c.event], streams=3), cascades, tones)


def test_the_viral_decoy_check_swaps_in_unused_cheerful_cascades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import realsuite

    rng = random.Random(12)
    rows = [_cascade(i, rumor=i < 6, size=130 if i < 6 else 160, rng=rng) for i in range(44)]
    path = _write_cascades(tmp_path / "cascades.jsonl.gz", rows)
    cascades = load_cascades(path)
    tones = {c.event: _tone(c) for c in cascades}
    dealt = [c for c in cascades if int(c.event[2:]) < 40]  # the four after it are unused
    suite = plan_suite(dealt, lambda c: tones[c.event], streams=2)
    before = {c.event for p in suite for c in (p.crisis, p.viral, *p.harmless, *p.small)}
    unused = [c.event for c in cascades if c.event not in before and not c.rumor and c.size >= 150]
    monkeypatch.setattr(realsuite, "VIRAL_SKIP", 0)
    realsuite._viral_decoys(suite, cascades, tones)
    swapped = [p.viral.event for p in suite]
    assert len(set(swapped)) == 2 and set(swapped) <= set(unused) and not set(swapped) & before
    for p in suite:
        assert not {own_words(t) for t in p.viral.texts()} & set(p.texts)
    monkeypatch.setattr(realsuite, "VIRAL_SKIP", len(unused) - 1)  # the skipped ones are not taken
    with pytest.raises(ValueError, match="cheerful cascades"):
        realsuite._viral_decoys(plan_suite(dealt, lambda c: tones[c.event], streams=2), cascades, tones)


def test_the_story_oracle_counts_distinct_negative_voices_per_cascade() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import story_ceiling

    from sentinel.post import ScoredPost

    t0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC8)

    def post(
        pid: str, author: str, minute: float, text: str, p: float, repost_of: str | None, phase: str
    ) -> tuple:
        record = {
            "platform": "weibo",
            "id": pid,
            "text": text,
            "created_at": datetime.fromtimestamp(t0.timestamp() + 60 * minute, UTC8).isoformat(),
            "author": {"id": author, "followers": 10},
            "repost_of": repost_of,
            "label": {"phase": phase, "incident": "s0-crisis-0" if phase == "crisis" else None},
        }
        return record, ScoredPost(
            post=parse_post(record), negative=p, label="negative" if p >= 0.65 else "neutral"
        )

    rows = [
        post("c", "root", 0, "某品牌出事了", 0.9, None, "crisis"),  # voice 1
        post("c1", "a", 1, "太恶心了", 0.9, "c", "crisis"),  # voice 2
        post("c2", "a", 2, "太恶心了吧", 0.9, "c", "crisis"),  # the same author: not a new voice
        post("c3", "b", 3, "哈哈", 0.1, "c", "crisis"),
        post("c4", "c", 4, "转发微博", 0.66, "c", "crisis"),  # voice 3 as read; its original's 0.9 in context
        post("s", "x", 0, "今天天气不错", 0.1, None, "background"),  # a small cheerful cascade
        post("s1", "y", 1, "转发微博", 0.66, "s", "background"),
        post("s2", "z", 2, "转发微博", 0.66, "s", "background"),
        post("s3", "w", 3, "转发微博", 0.66, "s", "background"),
    ]
    records, scored = [r for r, _ in rows], [s for _, s in rows]
    plain = {s.kind: s for s in story_ceiling.stories(records, scored, 0, in_context=False)}
    assert plain["crisis"].reached[(3, 0.0)] == 240.0  # the third distinct author, at minute 4
    assert (4, 0.0) not in plain["crisis"].reached
    assert plain["small"].reached[(3, 0.0)] == 180.0  # three bare reposts heard as 0.66 each
    context = {s.kind: s for s in story_ceiling.stories(records, scored, 0, in_context=True)}
    assert context["crisis"].reached[(3, 0.0)] == 240.0
    assert (1, 0.0) not in context["small"].reached  # under a cheerful post a bare repost is calm
    # at least half the story's posts negative: after "哈哈" 3 of 4 posts are, so minute 4 still counts
    assert context["crisis"].reached[(3, 0.5)] == 240.0
