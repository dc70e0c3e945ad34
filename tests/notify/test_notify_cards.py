"""What a card says about an alert's factors: the crisis topic by name, the KOL factor when it
lifts the level, figures with their units (a real Feishu stand-in receives the card)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_services import FakeFeishu
from notify_support import build, make_event

from sentinel.notify.message import Templates, event_view, format_count, topic_name


@pytest.fixture
def feishu() -> Iterator[FakeFeishu]:
    s = FakeFeishu()
    yield s
    s.close()


def engine_factors(kol_contribution: float) -> dict[str, Any]:
    """Factors shaped as the risk engine writes them (sentinel.risk.score.Score.factors)."""
    return {
        "volume": {"value": 120.0, "baseline": 8.5, "strength": 0.9, "contribution": 20.0},
        "negative_share": {"value": 0.62, "baseline": 0.1, "strength": 0.8, "contribution": 18.0},
        "velocity": {"value": 35.0, "baseline": None, "strength": 0.6, "contribution": 12.0},
        "spread": {"value": 200.0, "baseline": 20.0, "strength": 0.5, "contribution": 10.0},
        "reach": {"value": 830_000.0, "baseline": None, "strength": 0.3, "contribution": 4.0},
        "kol": {"value": 2.0, "baseline": None, "strength": 0.6, "contribution": kol_contribution},
        "topic": {"value": 0.58, "baseline": None, "strength": 0.58, "contribution": 3.0},
        "evidence": {"voices": 40},
    }


def card_lines(risk: float, kol_contribution: float, lang: str = "zh") -> list[str]:
    event = make_event(1, level="orange", text="艾克美饮料里喝出了异物，孩子拉肚子")
    event.factors.clear()
    event.factors.update(engine_factors(kol_contribution))
    event.risk = risk
    return event_view(event, Templates.load(lang), max_factors=4).factor_lines


def test_the_topic_is_named_not_scored() -> None:
    lines = card_lines(70.0, 1.0)
    assert "危机话题：产品与食品安全" in lines  # 异物, 拉肚子: the taxonomy's product_safety seeds
    assert not any("0.58" in line for line in lines)
    assert "Crisis topic: Product and food safety" in card_lines(70.0, 1.0, "en")


def test_the_kol_factor_shows_when_it_lifts_the_level() -> None:
    # orange starts at 65: without the KOLs' 6 points a risk of 70 would be yellow
    assert "大V/认证作者：2 位" in card_lines(70.0, 6.0)
    # the same KOLs at a risk of 90: orange either way, so the bigger factors fill the card
    assert not any(line.startswith("大V") for line in card_lines(90.0, 6.0))


def test_figures_carry_units() -> None:
    lines = card_lines(70.0, 1.0)
    assert "声量：120 条（基线 8.5 条）" in lines
    assert "负面占比：62%（基线 10%）" in lines
    event = make_event(2, level="orange")
    event.factors.clear()
    event.factors.update(engine_factors(1.0))
    event.factors["reach"]["contribution"] = 30.0
    assert "作者影响力：83 万粉丝" in event_view(event, Templates.load("zh")).factor_lines
    assert format_count(830_000) == "83 万" and format_count(1.25e8) == "1.25 亿"
    assert format_count(830_000, "en") == "830k" and format_count(9_999) == "9,999"
    assert topic_name("product_quality") == "产品质量" and topic_name("unknown_x") == "unknown_x"


def test_the_spread_line_says_how_many_ask_whether_it_is_true() -> None:
    from sentinel.web.i18n import explain_factor

    event = make_event(4, level="orange")
    event.factors.clear()
    event.factors.update(engine_factors(1.0))
    event.factors["spread"]["contribution"] = 30.0
    event.factors["spread"]["story"] = {"id": "r", "posts": 200, "expected": 20, "serious": 6}
    zh = event_view(event, Templates.load("zh")).factor_lines
    assert "传播规模：200 条（基线 20 条），其中 6 条转发在问真假或表示震惊" in zh
    en = event_view(event, Templates.load("en")).factor_lines
    assert any(line.endswith("; 6 reposts ask whether it is true or are alarmed") for line in en)
    assert "宜尽快澄清" in (explain_factor("spread", event.factors["spread"]) or "")
    for quiet in (0, None, "6", True):  # none asking, or not a count: the line as before
        event.factors["spread"]["story"] = {"id": "r", "posts": 200, "expected": 20, "serious": quiet}
        assert "传播规模：200 条（基线 20 条）" in event_view(event, Templates.load("zh")).factor_lines
        assert "澄清" not in (explain_factor("spread", event.factors["spread"]) or "")


async def test_the_card_that_arrives_says_so(feishu: FakeFeishu) -> None:
    event = make_event(3, level="orange", text="艾克美饮料里喝出了异物")
    event.factors.clear()
    event.factors.update(engine_factors(6.0))
    event.risk = 70.0
    n = build("feishu", feishu.url, feishu.secret)
    await n.send([event])
    await n.close()
    [a] = feishu.arrivals
    body = str(a.body)
    assert "产品与食品安全" in body and "2 位" in body and "120 条" in body


def test_the_topic_comes_from_the_top_stories_too_weighed_by_severity() -> None:
    event = make_event(4, level="orange", text="气死了[怒]")  # a reaction names no topic
    event.factors.clear()
    event.factors.update(engine_factors(1.0))
    event.factors["stories"] = [{"id": "s1", "text": "饮料里喝出异物，孩子拉肚子，找客服没用", "size": 40}]
    event.risk = 70.0
    lines = event_view(event, Templates.load("zh")).factor_lines
    # 异物 + 拉肚子 (safety, severity 0.9 each) before 客服 (service, 0.5)
    assert lines[0] == "危机话题：产品与食品安全、服务问题"
