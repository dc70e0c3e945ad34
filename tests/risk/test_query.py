from __future__ import annotations

import pytest

from sentinel.risk.query import QueryError, parse_query


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("艾克美", "今天喝了艾克美的酸奶", True),
        ("艾克美", "今天喝了别家的酸奶", False),
        ("艾克美 OR ACME", "acme yogurt is great", True),
        ("艾克美 OR ACME", "ＡＣＭＥ 全角", True),  # full-width folds to half-width
        ("ACME", "acmefoods shop", False),  # Latin terms do not match inside longer words
        ("ACME", "ACME2026新品", True),
        ("(艾克美 OR ACME) AND NOT 招聘", "艾克美招聘客服", False),
        ("(艾克美 OR ACME) AND NOT 招聘", "艾克美酸奶变质", True),
        ("艾克美 酸奶", "艾克美的酸奶", True),  # juxtaposition is AND
        ("艾克美 酸奶", "艾克美的牛奶", False),
        ('"食品 安全"', "关于食品 安全的讨论", True),
        ('"食品 安全"', "食品很安全", False),
        ("艾克美 AND (异物 OR 变质)", "艾克美酸奶有異物", True),  # traditional -> simplified
        ("艾克美 AND (异物 OR 变质)", "艾克美酸奶好喝", False),
        ("質量", "质量问题", True),
        ("NOT 招聘", "随便什么", True),
        ("a OR b AND c", "a", True),  # AND binds tighter than OR
        ("a OR b AND c", "b", False),
    ],
)
def test_matches(query: str, text: str, expected: bool) -> None:
    assert parse_query(query).matches(text) is expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("(艾克美 OR ACME", "never closed"),
        ("艾克美)", "unmatched ')' at column 4"),
        ("艾克美 AND", "ends where a term was expected"),
        ("OR 艾克美", "column 1"),
        ('"艾克美', "unterminated quoted phrase"),
        ("()", "empty parentheses"),
        ('""', "empty quoted phrase"),
    ],
)
def test_parse_errors_name_the_problem(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(query)
