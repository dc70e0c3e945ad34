"""Helpers for the risk-engine tests: scored posts (lexicon classifier or given scores)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sentinel.clock import UTC8
from sentinel.nlp.base import sentiment_label
from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.post import ScoredPost, parse_post

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC8)


def score(records: Iterable[dict[str, Any]]) -> list[ScoredPost]:
    records = list(records)
    posts = [parse_post(r) for r in records]
    scores = LexiconClassifier().classify([p.text for p in posts])
    return [
        ScoredPost(p, s.negative, sentiment_label(s.negative), dict(s.topics))
        for p, s in zip(posts, scores, strict=True)
    ]


def post(
    pid: str,
    text: str,
    at: datetime,
    *,
    author: str | None = None,
    followers: int = 100,
    verified: bool = False,
    repost_of: str | None = None,
    negative: float = 0.9,
    reposts: int = 0,
) -> ScoredPost:
    p = parse_post(
        {
            "platform": "weibo",
            "id": pid,
            "text": text,
            "created_at": at.isoformat(),
            "author": {
                "id": author or f"u{pid}",
                "name": f"用户{pid}",
                "followers": followers,
                "verified": verified,
            },
            "repost_of": repost_of,
            "reposts": reposts,
        }
    )
    return ScoredPost(p, negative, sentiment_label(negative))


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def reposts_of(
    root: str, texts: Iterable[str], at: datetime, *, ids: str, authors: str | None = None, negative: float
) -> list[ScoredPost]:
    """One repost of ``root`` per text, a second apart from ``at``, ids ``{ids}0``, ``{ids}1``…
    by distinct authors (``{authors}0``…; the ids by default), each read as ``negative``."""
    return [
        post(
            f"{ids}{i}",
            text,
            at + timedelta(seconds=i),
            author=f"{authors or ids}{i}",
            repost_of=root,
            negative=negative,
        )
        for i, text in enumerate(texts)
    ]
