from __future__ import annotations

import json
from typing import Any

import pytest

from sentinel.post import MAX_TEXT_CHARS, PostError, parse_post, parse_post_json

from .conftest import record


def test_round_trip_keeps_unknown_fields() -> None:
    rec = record(1, vendor_score=0.3)
    post = parse_post(rec)
    assert post.key == ("weibo", rec["id"])
    out = post.to_dict()
    assert out["vendor_score"] == 0.3
    assert parse_post(out) == post


def test_integer_ids_and_defaults() -> None:
    post = parse_post({"platform": "Weibo", "id": 12, "text": "x", "created_at": "2026-11-28T13:00:00+08:00"})
    assert post.id == "12" and post.platform == "weibo"
    assert post.author.followers == 0 and post.reposts == 0


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([1, 2], "not_object"),
        ("text", "not_object"),
        ({"platform": "weibo", "text": "x", "created_at": "2026-11-28T13:00:00+08:00"}, "missing_field"),
        ({"platform": "weibo", "id": "1", "text": "x", "created_at": "yesterday"}, "bad_timestamp"),
        ({"platform": "weibo", "id": "1", "text": "x", "created_at": "2026-11-28T13:00:00"}, "bad_timestamp"),
        (
            {"platform": "weibo", "id": "1", "text": 5, "created_at": "2026-11-28T13:00:00+08:00"},
            "wrong_type",
        ),
        (
            {"platform": "weibo", "id": True, "text": "x", "created_at": "2026-11-28T13:00:00+08:00"},
            "wrong_type",
        ),
        (dict(record(1), reposts="many"), "wrong_type"),
        (dict(record(1), author="someone"), "wrong_type"),
        (dict(record(1), author={"verified": "yes"}), "wrong_type"),
        (dict(record(1), text="长" * (MAX_TEXT_CHARS + 1)), "oversize"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(obj: Any, reason: str) -> None:
    with pytest.raises(PostError) as err:
        parse_post(obj)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "bad_json"),
        (b'{"platform": "weibo", "id": "1", "text": "\xff\xfe", "created_at": "x"}', "bad_encoding"),
        (b"[" * 100_000, "bad_json"),
        ("null", "not_object"),
    ],
)
def test_bad_lines(line: bytes | str, reason: str) -> None:
    with pytest.raises(PostError) as err:
        parse_post_json(line)
    assert err.value.reason == reason


def test_json_line_ok() -> None:
    post = parse_post_json(json.dumps(record(3), ensure_ascii=False).encode())
    assert post.text.startswith("今天")


def test_lone_surrogates_become_replacement_characters() -> None:
    rec = record(4)
    rec["text"] = "坏了\ud800"
    rec["author"] = {"id": "7", "name": "\udc00名"}
    rec["note"] = ["\ud801", {"k\udfff": 1}]
    line = json.dumps(rec)  # ensure_ascii: the surrogates travel as \ud800 escapes
    for post in (parse_post_json(line), parse_post_json(line.encode()), parse_post(json.loads(line))):
        assert post.text == "坏了\ufffd"
        assert post.author.name == "\ufffd名"
        assert post.extra["note"] == ["\ufffd", {"k\ufffd": 1}]
        json.dumps(post.to_dict(), ensure_ascii=False).encode("utf-8")  # storable
    # a valid pair is one character, not two replacements
    rec["text"] = "好\ud83d\ude00"
    assert parse_post_json(json.dumps(rec)).text == "好😀"
