"""The canonical post (DESIGN.md) and its validation.

A record from any source becomes a :class:`Post` through :func:`parse_post`, or is
rejected with a :class:`PostError` whose ``reason`` is a short, countable label.
Unknown fields are kept in ``extra`` and written back by :meth:`Post.to_dict`.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "MAX_TEXT_CHARS",
    "Author",
    "Post",
    "PostError",
    "RecentKeys",
    "ScoredPost",
    "decode_json",
    "parse_post",
    "parse_post_json",
    "without_lone_surrogates",
]

MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256
_KNOWN = {
    "platform",
    "id",
    "text",
    "created_at",
    "author",
    "reposts",
    "comments",
    "likes",
    "url",
    "repost_of",
}


class PostError(ValueError):
    """A record that is not a valid canonical post; ``reason`` is a metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Author:
    id: str | None = None
    name: str | None = None
    followers: int = 0
    verified: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        d.update(id=self.id, name=self.name, followers=self.followers, verified=self.verified)
        return d


@dataclass(slots=True)
class Post:
    platform: str
    id: str
    text: str
    created_at: datetime
    author: Author = field(default_factory=Author)
    reposts: int = 0
    comments: int = 0
    likes: int = 0
    url: str | None = None
    repost_of: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.id)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        d.update(
            platform=self.platform,
            id=self.id,
            text=self.text,
            created_at=self.created_at.isoformat(),
            author=self.author.to_dict(),
            reposts=self.reposts,
            comments=self.comments,
            likes=self.likes,
            url=self.url,
            repost_of=self.repost_of,
        )
        return d


@dataclass(slots=True)
class ScoredPost:
    """A post with its classification; ``label`` is negative / neutral / positive."""

    post: Post
    negative: float
    label: str
    topics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = self.post.to_dict()
        d["sentiment"] = {"label": self.label, "negative": round(self.negative, 6)}
        d["topics"] = [
            {"label": k, "score": round(v, 6)} for k, v in sorted(self.topics.items(), key=lambda kv: -kv[1])
        ]
        return d


def _as_str_id(value: Any, name: str) -> str:
    if isinstance(value, bool) or value is None:
        raise PostError("wrong_type", f"{name} must be a string or integer")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise PostError("wrong_type", f"{name} must be a string or integer, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise PostError("missing_field", f"{name} is empty")
    if len(value) > MAX_ID_CHARS:
        raise PostError("oversize", f"{name} longer than {MAX_ID_CHARS} characters")
    return value


def _as_count(value: Any, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise PostError("wrong_type", f"{name} must be a number")
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and math.isfinite(value):
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise PostError("wrong_type", f"{name} must be a non-negative number")


def parse_time(value: Any, name: str = "created_at") -> datetime:
    """ISO 8601 with an offset; naive times are rejected (their zone is a guess)."""
    if not isinstance(value, str):
        raise PostError("bad_timestamp", f"{name} must be an ISO 8601 string")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PostError("bad_timestamp", f"{name} is not ISO 8601: {value[:40]!r}") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise PostError("bad_timestamp", f"{name} has no UTC offset: {value[:40]!r}")
    return when


def _parse_author(value: Any) -> Author:
    if value is None:
        return Author()
    if not isinstance(value, dict):
        raise PostError("wrong_type", "author must be an object")
    extra = {k: v for k, v in value.items() if k not in {"id", "name", "followers", "verified"}}
    author_id = value.get("id")
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        raise PostError("wrong_type", "author.name must be a string")
    verified = value.get("verified", False)
    if not isinstance(verified, bool):
        raise PostError("wrong_type", "author.verified must be a boolean")
    return Author(
        id=None if author_id is None else _as_str_id(author_id, "author.id"),
        name=name[:200] if name else name,
        followers=_as_count(value.get("followers"), "author.followers"),
        verified=verified,
        extra=extra,
    )


# A JSON "\\ud800" escape decodes to a lone surrogate, which no UTF-8 encoder accepts: a post
# holding one could not be stored, published or printed. Such characters become U+FFFD.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def without_lone_surrogates(value: Any) -> Any:
    """A decoded JSON value with every lone surrogate replaced by U+FFFD (the same object when
    it holds none). Raises ``RecursionError`` on absurdly deep nesting, as ``json`` does."""
    return _replace_surrogates(value) if _has_surrogate(value) else value


def decode_json(line: str) -> Any:
    """``json.loads(line)`` with lone surrogates replaced by U+FFFD. Decoded text has none of
    its own, so only a ``\\u`` escape can make one: lines without one are not scanned. Raises
    what ``json.loads`` raises (``ValueError``, ``RecursionError``)."""
    obj = json.loads(line)
    return without_lone_surrogates(obj) if "\\u" in line else obj


def parse_post(obj: Any, *, max_text: int = MAX_TEXT_CHARS, _may_hold_surrogates: bool = True) -> Post:
    """Validate one decoded record; raise :class:`PostError` with a countable reason.

    Lone surrogates (from ``"\\udXXX"`` escapes) anywhere in the record become U+FFFD.
    """
    if not isinstance(obj, dict):
        raise PostError("not_object", f"expected a JSON object, got {type(obj).__name__}")
    if _may_hold_surrogates:
        try:
            obj = without_lone_surrogates(obj)
        except RecursionError:
            raise PostError("bad_json", "record nested too deeply") from None
    for required in ("platform", "id", "text", "created_at"):
        if obj.get(required) is None:
            raise PostError("missing_field", f"{required} is required")
    text = obj["text"]
    if not isinstance(text, str):
        raise PostError("wrong_type", "text must be a string")
    if len(text) > max_text:
        raise PostError("oversize", f"text has {len(text)} characters, limit {max_text}")
    platform = _as_str_id(obj["platform"], "platform").lower()
    url = obj.get("url")
    if url is not None and not isinstance(url, str):
        raise PostError("wrong_type", "url must be a string")
    repost_of = obj.get("repost_of")
    return Post(
        platform=platform,
        id=_as_str_id(obj["id"], "id"),
        text=text,
        created_at=parse_time(obj["created_at"]),
        author=_parse_author(obj.get("author")),
        reposts=_as_count(obj.get("reposts"), "reposts"),
        comments=_as_count(obj.get("comments"), "comments"),
        likes=_as_count(obj.get("likes"), "likes"),
        url=url,
        repost_of=None if repost_of is None else _as_str_id(repost_of, "repost_of"),
        extra={k: v for k, v in obj.items() if k not in _KNOWN},
    )


def parse_post_json(line: str | bytes, *, max_text: int = MAX_TEXT_CHARS) -> Post:
    """Decode one JSON line (bytes must be UTF-8) and validate it."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise PostError("bad_encoding", "line is not valid UTF-8") from None
    if len(line) > max_text * 4 + 65_536:
        raise PostError("oversize", f"record of {len(line)} characters")
    try:
        obj = decode_json(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PostError("bad_json", str(exc)[:120]) from None
    return parse_post(obj, max_text=max_text, _may_hold_surrogates=False)


class RecentKeys:
    """A bounded set of recently seen (platform, id) keys: duplicates arrive close together,
    so remembering the last ``size`` keeps memory flat on a stream of any length."""

    def __init__(self, size: int = 500_000) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()

    def seen(self, key: tuple[str, str]) -> bool:
        """True if ``key`` was seen before; remembers it either way."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return False
