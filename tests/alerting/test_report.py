"""The report's numbers against the known stream of conftest.py, and its files."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from sentinel.alerting.render import write_report
from sentinel.alerting.report import ReportData, build_report
from sentinel.clock import ManualClock
from sentinel.config import Config
from sentinel.store import SqlStore

from .conftest import T0, H, Known


@pytest.fixture
async def report(filled: SqlStore, config: Config, clock: ManualClock, known: Known) -> ReportData:
    return await build_report(
        filled, config, "acme", since=known.since, until=known.until, clock=clock, progress=False
    )


async def test_counts_and_shares(report: ReportData, known: Known) -> None:
    assert report.posts == known.posts
    assert report.sentiment == {"negative": known.negative, "neutral": known.neutral}
    assert report.share("negative") == pytest.approx(known.negative / known.posts)
    assert tuple(report.buckets.volume) == known.volume
    assert report.buckets.size == H
    assert report.buckets.baseline[0] == known.baseline_first
    assert sum(report.buckets.negative) == known.negative
    # the other brand's posts (one an hour, all negative) are not the watch's
    assert all(not sp.post.text.startswith("别的品牌") for sp in report.notable)


async def test_topics_stories_authors(report: ReportData, known: Known) -> None:
    assert report.topics == [("product_safety", known.food_safety_posts)]
    top = report.stories[0]
    assert top.key == "root"
    assert top.posts == known.top_story_posts
    assert top.negative_share == 1.0
    assert top.reposts == 4000
    assert report.notable[0].post.id == "root"  # the most-followed, most-reposted negative post
    assert report.authors[0].posts >= report.authors[-1].posts
    assert sum(a.posts for a in report.authors) <= known.posts


async def test_alerts_acks_levels(report: ReportData, known: Known) -> None:
    assert [a.id for a in report.alerts] == [known.alert_id]
    alert = report.alerts[0]
    assert alert.acked_by == "wang.li"
    assert alert.ack_note == "PR 正在准备声明"
    assert alert.status == "resolved"
    assert [e.event for e in report.events] == ["opened", "escalated", "deescalated", "resolved"]
    assert report.peak_level == "red" and report.peak_risk == 85
    assert report.resolution == timedelta(hours=4.5)


async def test_response_effect(report: ReportData, known: Known) -> None:
    first_alert, first_response, delta = report.first_response
    assert first_alert == known.first_alert_at
    assert first_response == known.response_at
    assert delta == timedelta(hours=1.5)
    [effect] = report.effects
    # the crisis ran at 30 negative posts an hour from 04:00 until the apology, then 2 an hour:
    # against the course it was on (flat at ~30/h), the apology is called effective
    assert effect.verdict == "effective"
    negative = effect.comparison("negative posts (posts/h)")
    assert negative.expected == pytest.approx(30, rel=0.1) and negative.high < 0.3
    volume = effect.comparison("volume (posts/h)")
    assert volume.before == pytest.approx(30, rel=0.05) and volume.direction == "down"
    share = effect.comparison("negative share")
    assert share.before == pytest.approx(1.0) and share.direction == "down"
    assert effect.stories[0] == "root"
    # the posts demanding an apology before it are not read as the apology failing: mentions
    # are counted after it only
    assert "share mentioning the response" not in {c.metric for c in effect.comparisons}
    assert effect.mentions is not None and effect.mentions > 0
    # risk from the stored events: 55 for 0.5 h and 85 for 1 h before; 85 over the hour judged after
    assert effect.risk_before == pytest.approx((0.5 * 55 + 85) / 6)
    assert effect.risk_after == pytest.approx(85)


async def test_files(report: ReportData, tmp_path: Path, known: Known) -> None:
    files = write_report(report, tmp_path / "out")
    page = files.html.read_text(encoding="utf-8")
    svgs = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" id="chart-([a-z]+)"', page)
    assert svgs == ["risk", "volume", "sentiment", "topics"]
    assert "data:image/png" not in page  # charts are markup, drawn by the reader's browser
    assert "<script" not in page and 'http-equiv="Content-Security-Policy"' in page
    assert "wang.li" in page and "艾克美牛奶喝出异物" in page
    # the response's effect as the counterfactual method gives it: a verdict, observed vs expected
    assert f"结论：{ {'effective': '有效'}.get(report.effects[0].verdict, '') }" in page
    assert "预期（原走势）" in page and "负面帖子（条/小时）" in page
    for heading in (
        "一、事件经过",
        "二、传播分析",
        "三、情绪与话题",
        "四、应对与效果",
        "原因",
        "得失",
        "改进",
    ):
        assert f">{heading}<" in page, heading
    md = files.markdown.read_text(encoding="utf-8")
    assert "![风险分与预警级别](charts/risk.svg)" in md
    svg = (files.markdown.parent / "charts" / "topics.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and ">产品与食品安全</text>" in svg  # the topic's name, as text
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert data["posts"] == known.posts
    assert data["sentiment_share"]["negative"] == round(known.negative / known.posts, 4)
    assert data["first_response"]["seconds"] == 5400


async def test_untrusted_text_is_escaped(
    filled: SqlStore, config: Config, clock: ManualClock, tmp_path: Path
) -> None:
    from sentinel.post import Author, Post, ScoredPost

    evil = Post(
        "weibo",
        "evil",
        "艾克美 <img src=x onerror=alert(1)> | **bold** [x](javascript:alert(1))",
        T0 + 5 * H,
        Author("u666", "<b>坏人</b>", 10**7),
        url="javascript:alert(1)",
    )
    await filled.write_batch([(ScoredPost(evil, 0.99, "negative", {}), "test")], [], model="t", now=T0)
    data = await build_report(
        filled, config, "acme", since=T0, until=T0 + 12 * H, clock=clock, progress=False
    )
    files = write_report(data, tmp_path / "out")
    page = files.html.read_text(encoding="utf-8")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="javascript' not in page and "<b>坏人</b>" not in page
    md = files.markdown.read_text(encoding="utf-8")
    assert "<img src=x" not in md and "](javascript" not in md


async def test_progress_bar_only_when_asked(
    filled: SqlStore, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentinel.alerting.posts import load_watch_posts

    quiet = await load_watch_posts(filled, config, "acme", since=T0, until=T0 + 12 * H)  # not a terminal
    assert capsys.readouterr().err == ""
    shown = await load_watch_posts(filled, config, "acme", since=T0, until=T0 + 12 * H, progress=True)
    assert "reading posts" in capsys.readouterr().err
    assert [sp.post.id for sp in quiet.posts] == [sp.post.id for sp in shown.posts]
    assert len(quiet.posts) == 98


def test_public_surface() -> None:
    import sentinel.alerting as pkg

    assert sorted(pkg.__all__) == sorted(
        [
            "KINDS",
            "AlertManager",
            "AlertNotFound",
            "AlertRecord",
            "AlertStateError",
            "ApiTokens",
            "Effect",
            "ResponseEvent",
            "ResponseLog",
            "Silence",
            "evaluate_effect",
            "register_routes",
        ]
    )
    assert all(hasattr(pkg, name) for name in pkg.__all__)


async def test_watch_gone_from_config_keeps_its_posts(
    filled: SqlStore, config: Config, clock: ManualClock, known: Known
) -> None:
    from sentinel.alerting.posts import use_config_watches
    from sentinel.config import config_from_dict

    await use_config_watches(filled, config)  # decided while the watch was configured
    bare = config_from_dict({"storage": {"url": "sqlite:///unused.db"}})  # then the watch was removed
    data = await build_report(
        filled, bare, "acme", since=known.since, until=known.until, clock=clock, progress=False
    )
    assert data.query is None
    assert data.posts == known.posts and data.stories[0].key == "root"  # its posts, as decided then
    assert [a.id for a in data.alerts] == [known.alert_id]


def test_repost_tree_follows_the_quoted_author() -> None:
    from sentinel.alerting.report import spread_tree
    from sentinel.post import Author, Post, ScoredPost

    def sp(pid: str, name: str, text: str, minute: int, followers: int = 10) -> ScoredPost:
        post = Post(
            "weibo",
            pid,
            text,
            T0 + timedelta(minutes=minute),
            Author(pid, name, followers),
            repost_of=None if pid == "r" else "r",
        )
        return ScoredPost(post, 0.9, "negative", {})

    root = sp("r", "原帖", "艾克美出事了", 0, 10**6)
    reposts = [
        sp("a", "大V甲", "转发", 1, 500_000),
        sp("b", "路人乙", "扩散//@大V甲:转发", 2),
        sp("c", "路人丙", "气死了//@路人乙:扩散//@大V甲:转发", 3),
        sp("d", "路人丁", "顶//@大V甲:转发", 4),
        sp("e", "路人戊", "//@不在此链:x", 5),  # quotes someone outside the story: under the original
    ]
    tree = spread_tree(root, reposts)
    assert tree.size == 6
    assert [(c.id, c.size) for c in tree.children] == [("a", 4), ("e", 1)]
    a = tree.children[0]
    assert [(c.id, c.size) for c in a.children] == [("b", 2), ("d", 1)]
    assert a.children[0].children[0].id == "c"


async def test_report_in_english_and_review_notes(
    report: ReportData, filled: SqlStore, config: Config, clock: ManualClock, known: Known, tmp_path: Path
) -> None:
    from sentinel.alerting.review import ReviewNotes

    notes = ReviewNotes(filled, clock)
    await notes.add("acme", "improve", "声明模板提前备好", actor="wang.li")
    with pytest.raises(ValueError, match="section"):
        await notes.add("acme", "misc", "x", actor="wang.li")
    data = await build_report(
        filled, config, "acme", since=known.since, until=known.until, clock=clock, progress=False
    )
    assert [(n.section, n.text, n.by) for n in data.notes] == [("改进", "声明模板提前备好", "wang.li")]
    page = write_report(data, tmp_path / "en", "en").html.read_text(encoding="utf-8")
    assert "1. What happened" in page and "Improvements" in page and "声明模板提前备好" in page
    assert "一、事件经过" not in page
    assert "Product and food safety" in (tmp_path / "en" / "charts" / "topics.svg").read_text(
        encoding="utf-8"
    )
    zh = write_report(data, tmp_path / "zh").html.read_text(encoding="utf-8")
    # units: posts in 条, followers in 万, durations in 小时/分钟, risk out of 100
    assert "99 条" in zh or f"{known.posts} 条" in zh
    assert "1 小时 30 分钟" in zh and "85/100" in zh and "粉丝 50 万" in zh


def test_the_effect_notes_read_in_chinese() -> None:
    from sentinel.alerting.render import _note_zh

    assert _note_zh("judged over the first 75 min after the response") == "只评估回应后的前 75 分钟"
    assert _note_zh("not enough data: 5 posts in the fitted part of the before window (need 20)") == (
        "数据不足：回应前用于拟合的部分只有 5 条帖子（至少需要 20 条）"
    )
    assert _note_zh("a note the report does not know") == "a note the report does not know"
