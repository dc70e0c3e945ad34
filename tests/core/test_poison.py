"""Poison records (issue 19): each one is a counted rejection or a kept post, never a crash.

Python's ``int()`` refuses more than 4,300 digits with a plain ``ValueError``; the store's
INTEGER columns (32-bit on PostgreSQL) refuse large counters for the whole batch; NUL and
lone surrogates cannot be stored; ``NaN`` is not JSON. See tests/scale/test_poison_store.py
for the same records written to a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sentinel.post import (
    MAX_COUNT,
    PostError,
    ScoredPost,
    decode_json,
    parse_post,
    parse_post_json,
    strict_json,
)
from sentinel.store import SqlStore

from .conftest import record

HUGE = "1" * 5000  # past sys.get_int_max_str_digits() (4,300)


def _line(rec: dict[str, Any], **raw: str) -> str:
    """``rec`` as a JSON line, with ``raw`` values spliced in as they are (not JSON-encoded)."""
    line = json.dumps(rec, ensure_ascii=False)
    for key, value in raw.items():
        line = line[:-1] + f', "{key}": {value}}}'
    return line


@pytest.mark.parametrize(
    "line",
    [
        _line(record(1), reposts=HUGE),
        _line(record(1), vendor=f"[{HUGE}]"),
        _line({k: v for k, v in record(1).items() if k != "id"}, id=HUGE),
        _line(record(1), author=f'{{"followers": -{HUGE}}}'),
    ],
)
def test_a_number_of_thousands_of_digits_is_a_counted_rejection(line: str) -> None:
    with pytest.raises(PostError) as err:
        parse_post_json(line)
    assert err.value.reason == "bad_number"
    with pytest.raises(PostError):
        parse_post_json(line.encode())
    with pytest.raises(PostError):
        decode_json(line)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reposts", 10**20),
        ("likes", 2**31),
        ("comments", 2**63),
        ("reposts", "99999999999999999999999"),
        ("likes", "0000000000000000000000012"),
        ("reposts", 1e300),
    ],
)
def test_counts_past_the_store_range_are_clamped_not_lost(field: str, value: Any) -> None:
    post = parse_post(dict(record(1), **{field: value}))
    expected = 12 if value == "0000000000000000000000012" else MAX_COUNT
    assert getattr(post, field) == expected
    followers = parse_post(dict(record(1), author={"id": "1", "followers": "99999999999999999999999"}))
    assert followers.author.followers == MAX_COUNT


def test_non_ascii_digits_are_a_rejection_not_a_crash() -> None:
    with pytest.raises(PostError) as err:  # "²".isdigit() is true, int("²") raises ValueError
        parse_post(dict(record(1), reposts="²"))
    assert err.value.reason == "wrong_type"


def test_nan_and_infinity_never_enter() -> None:
    line = _line(record(1), reposts="NaN", likes="Infinity", vendor='{"score": -Infinity, "w": [NaN, 1e400]}')
    post = parse_post_json(line)
    assert post.reposts == 0 and post.likes == 0  # not numbers: as if absent
    assert post.extra["vendor"]["score"] is None and post.extra["vendor"]["w"][0] is None
    assert post.extra["vendor"]["w"][1] == 1.7976931348623157e308  # valid JSON: clamped
    json.dumps(post.to_dict(), allow_nan=False)
    # records built elsewhere (a collector's dict) are cleaned the same way
    post = parse_post(dict(record(1), vendor=[math.nan, math.inf], likes=math.inf))
    assert post.extra["vendor"] == [None, None] and post.likes == 0
    assert strict_json({"a": math.nan, "b": [-math.inf]}) == '{"a": null, "b": [null]}'


def test_export_writes_strict_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sentinel.cli import app
    from sentinel.config import StorageConfig

    store = SqlStore(StorageConfig(url=f"sqlite:///{tmp_path}/s.db"))
    post = parse_post(record(1))
    post.extra["vendor"] = {"score": math.nan, "low": -math.inf}  # as an older version stored it
    rows = [(ScoredPost(post, 0.5, "neutral", {"t": math.inf}), "s")]

    async def fill() -> None:
        await store.open()
        await store.write_batch(rows, [], model="m", now=datetime(2026, 11, 28, tzinfo=UTC))
        await store.close()

    asyncio.run(fill())
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["export", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert "NaN" not in line and "Infinity" not in line

    def strict(name: str) -> None:
        raise ValueError(name)

    got = json.loads(line, parse_constant=strict)
    assert got["vendor"] == {"score": None, "low": None} and got["topics"] == [{"label": "t", "score": None}]


@pytest.mark.parametrize(
    "created_at",
    [
        "9999-12-31T23:59:59-23:59",  # past year 9999 in UTC
        "0001-01-01T00:00:00+23:59",
        "9999-01-01T00:00:00+00:00",
        "2100-01-01T00:00:00+00:00",
        "1969-12-31T23:59:59+00:00",
    ],
)
def test_times_no_post_can_have_are_rejected(created_at: str) -> None:
    with pytest.raises(PostError) as err:
        parse_post(dict(record(1), created_at=created_at))
    assert err.value.reason == "bad_timestamp"


def test_ids_differing_only_in_a_lone_surrogate_or_nul_are_not_merged() -> None:
    lines = [
        _line({k: v for k, v in record(1).items() if k != "id"}, id=f'"a\\u{c}"') for c in ("d800", "d801")
    ]
    lines.append(_line({k: v for k, v in record(1).items() if k != "id"}, id='"a\\u0000"'))
    lines.append(_line({k: v for k, v in record(1).items() if k != "platform"}, platform='"w\\udfff"'))
    for line in lines:
        with pytest.raises(PostError) as err:
            parse_post_json(line)
        assert err.value.reason == "bad_id"
        with pytest.raises(PostError):
            parse_post(json.loads(line))
    # raw surrogates in text (bytes decoded with "surrogateescape") are found too
    with pytest.raises(PostError):
        parse_post_json(json.dumps(dict(record(1), id="a\udcff"), ensure_ascii=False))


def test_nul_in_text_becomes_a_replacement_character() -> None:
    post = parse_post_json(json.dumps(dict(record(1), text="坏\x00了", repost_of="9\x00")))
    assert post.text == "坏\ufffd了" and post.repost_of == "9\ufffd"


def test_a_platform_longer_than_its_column_is_rejected() -> None:
    with pytest.raises(PostError) as err:
        parse_post(dict(record(1), platform="p" * 33))
    assert err.value.reason == "oversize"
    assert parse_post(dict(record(1), platform="p" * 32)).platform == "p" * 32


async def test_clamped_and_cleaned_posts_store_in_one_batch(store: SqlStore) -> None:
    recs = [
        dict(record(1), reposts=10**20, author={"id": "1", "followers": "99999999999999999999999"}),
        dict(record(2), text="a\x00b"),
        record(3),
    ]
    batch = [(ScoredPost(parse_post(r), 0.5, "neutral", {}), "s") for r in recs]
    await store.write_batch(batch, [], model="m", now=datetime(2026, 11, 28, tzinfo=UTC))
    assert await store.count_posts() == 3
