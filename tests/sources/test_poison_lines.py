"""The file source past poison lines (issue 19): it used to crash-loop on a 4,300+ digit number."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sentinel.post import MAX_COUNT
from sentinel.sources import build_source
from sentinel.sources.base import SourceContext

from .conftest import RecordingSink, make_posts


async def test_poison_lines_are_counted_and_every_good_post_is_read(
    tmp_path: Path, make_ctx: Callable[..., SourceContext], sink: RecordingSink
) -> None:
    posts = make_posts(300)
    posts[200]["reposts"] = 10**20  # past 64 bits: kept, clamped
    posts[201]["author"]["followers"] = "99999999999999999999999"
    lines = [json.dumps(p, ensure_ascii=False) for p in posts]
    poison = [
        lines[150][:-1] + ', "vendor": ' + "7" * 5000 + "}",
        '{"platform": "weibo", "id": "x", "text": "t", "created_at": "9999-12-31T23:59:59-23:59"}',
        '{"platform": "weibo", "id": "\\ud800", "text": "t", "created_at": "2026-11-28T13:00:00+08:00"}',
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines[:150] + poison + lines[150:]) + "\n", encoding="utf-8")
    source = build_source(make_ctx("file", {"path": str(path), "follow": False}))
    await source.collect(sink)
    await source.close()
    assert len(sink.posts) == 300
    assert sink.rejects == {"bad_number": 1, "bad_timestamp": 1, "bad_id": 1}
    clamped = sink.posts[("weibo", posts[200]["id"])]
    assert clamped.reposts == MAX_COUNT
    assert sink.posts[("weibo", posts[201]["id"])].author.followers == MAX_COUNT
