"""The canonical post (DESIGN.md) and its validation.

A record from any source becomes a :class:`Post` through :func:`parse_post`, or is
rejected with a :class:`PostError` whose ``reason`` is a short, countable label.
Unknown fields are kept in ``extra`` and written back by :meth:`Post.to_dict`.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_COUNT",
    "MAX_TEXT_CHARS",
    "Author",
    "Post",
    "PostError",
    "RecentKeys",
    "ScoredPost",
    "decode_json",
    "parse_post",
    "parse_post_json",
    "strict_json",
    "without_lone_surrogates",
]

MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256  # posts.post_id, author_id and repost_of are VARCHAR(256) (store/schema.py)
MAX_PLATFORM_CHARS = 32  # posts.platform is VARCHAR(32): a longer one fails the whole batch
# Counters are clamped, not rejected: a post whose like count overflows is still a post, and
# losing it would be worse than holding a capped number (no real counter comes near). The cap
# is what the store's INTEGER columns hold on PostgreSQL (32-bit; SQLite's hold 64): a
# larger value fails the whole batch there, not just this post.
MAX_COUNT = 2**31 - 1
# created_at outside these is no post's real time, and near year 9999 a UTC conversion
# overflows: such records are rejected (a guess at the real time would be worse).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
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
        d["sentiment"] = {"label": self.label, "negative": _rounded(self.negative)}
        d["topics"] = [
            {"label": k, "score": _rounded(v)} for k, v in sorted(self.topics.items(), key=lambda kv: -kv[1])
        ]
        return d


def _rounded(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None  # NaN is not JSON


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
    """A counter in 0..MAX_COUNT: larger ones are clamped (see MAX_COUNT), negative ones are 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise PostError("wrong_type", f"{name} must be a number")
    if isinstance(value, int):
        return min(max(value, 0), MAX_COUNT)
    if isinstance(value, float):
        if math.isnan(value):  # not a number: as if absent, like JSON's null
            return 0
        return int(min(max(value, 0.0), MAX_COUNT))
    if isinstance(value, str):
        digits = value.strip()
        # ASCII only: str.isdigit() is true for "²", which int() refuses
        if digits.isascii() and digits.isdigit():
            # past 10 significant digits it is over the cap; int() of 4,300+ digits raises
            return MAX_COUNT if len(digits.lstrip("0")) > 10 else min(int(digits), MAX_COUNT)
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
    try:
        in_range = EARLIEST <= when.astimezone(UTC) < LATEST
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
        in_range = False
    if not in_range:
        raise PostError(
            "bad_timestamp", f"{name} is outside {EARLIEST.year}..{LATEST.year - 1}: {value[:40]!r}"
        )
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
# holding one could not be stored, published or printed. Such characters become U+FFFD. So
# does NUL ("\\u0000"), which PostgreSQL's text columns refuse (failing the whole batch).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _needs_cleaning(value: Any, bad: re.Pattern[str]) -> bool:
    if isinstance(value, str):
        return bad.search(value) is not None
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_needs_cleaning(k, bad) or _needs_cleaning(v, bad) for k, v in value.items())
    if isinstance(value, list):
        return any(_needs_cleaning(v, bad) for v in value)
    return False


def _cleaned(value: Any, bad: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return bad.sub("\ufffd", value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN and infinities are not JSON
    if isinstance(value, dict):
        return {_cleaned(k, bad): _cleaned(v, bad) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v, bad) for v in value]
    return value


def without_lone_surrogates(value: Any) -> Any:
    """A decoded JSON value with every lone surrogate replaced by U+FFFD and every NaN or
    infinity by ``None`` (the same object when it holds none). Raises ``RecursionError`` on
    absurdly deep nesting, as ``json`` does."""
    return _cleaned(value, _LONE_SURROGATE) if _needs_cleaning(value, _LONE_SURROGATE) else value


def strict_json(value: Any) -> str:
    """``json.dumps`` (UTF-8 text, not ASCII escapes) that never writes ``NaN`` or ``Infinity``,
    which are not JSON: such floats become ``null``."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_cleaned(value, _LONE_SURROGATE), ensure_ascii=False, allow_nan=False)


def _no_constant(name: str) -> None:
    return None  # NaN, Infinity, -Infinity: Python's json reads them, no other JSON reader does


def _float(literal: str) -> float:
    value = float(literal)  # "1e400" is valid JSON, and inf as a float: clamp it to the largest
    return value if math.isfinite(value) else math.copysign(sys.float_info.max, value)


def decode_json(line: str) -> Any:
    """``json.loads(line)``, but lone surrogates become U+FFFD, ``NaN`` / ``Infinity`` become
    ``None`` and numbers past a float's range the largest float. Decoded text has no
    surrogates of its own, so only a ``\\u`` escape can make one: lines without one are not
    scanned. Raises :class:`PostError` (``bad_json``, or ``bad_number`` for an integer of
    more digits than Python converts) and ``RecursionError`` for absurd nesting."""
    obj = _loads(line)
    return without_lone_surrogates(obj) if "\\u" in line else obj


def _loads(line: str) -> Any:
    try:
        return json.loads(line, parse_constant=_no_constant, parse_float=_float)
    except json.JSONDecodeError as exc:
        raise PostError("bad_json", f"{exc.msg} at column {exc.colno}") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (sys.get_int_max_str_digits)
        raise PostError("bad_number", str(exc)[:120]) from None


def _identity_problem(obj: dict[str, Any]) -> PostError | None:
    """Replacing a lone surrogate or NUL in (platform, id) would make distinct posts one post."""
    for name in ("platform", "id"):
        value = obj.get(name)
        if isinstance(value, str) and _UNSTORABLE.search(value):
            return PostError(
                "bad_id",
                f"{name} holds a NUL or a lone surrogate ({ascii(value)[:60]}): not storable, and "
                "replacing it would merge distinct posts",
            )
    return None


def parse_post(obj: Any, *, max_text: int = MAX_TEXT_CHARS, _may_hold_surrogates: bool = True) -> Post:
    """Validate one decoded record; raise :class:`PostError` with a countable reason.

    Lone surrogates (from ``"\\udXXX"`` escapes) and NULs anywhere in the record become
    U+FFFD, NaN and infinite floats ``None``; in ``platform`` or ``id`` they reject it
    (``bad_id``). Counters are clamped to 0..:data:`MAX_COUNT`.
    """
    if not isinstance(obj, dict):
        raise PostError("not_object", f"expected a JSON object, got {type(obj).__name__}")
    if _may_hold_surrogates:
        problem = _identity_problem(obj)
        if problem is not None:
            raise problem
        try:
            if _needs_cleaning(obj, _UNSTORABLE):
                obj = _cleaned(obj, _UNSTORABLE)
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
    if len(platform) > MAX_PLATFORM_CHARS:
        raise PostError("oversize", f"platform longer than {MAX_PLATFORM_CHARS} characters")
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
        scan = "\\u" in line
    else:  # text may hold surrogates of its own (bytes decoded with "surrogateescape")
        scan = "\\u" in line or _LONE_SURROGATE.search(line) is not None
    if len(line) > max_text * 4 + 65_536:
        raise PostError("oversize", f"record of {len(line)} characters")
    try:
        obj = _loads(line)
    except RecursionError:
        raise PostError("bad_json", "record nested too deeply") from None
    # only a "\\u" escape can decode to a surrogate or a NUL (NaN and infinities are gone)
    return parse_post(obj, max_text=max_text, _may_hold_surrogates=scan)


class RecentKeys:
    """A bounded memory of recently seen keys (``(platform, id)``, or a feed's own ids):
    duplicates arrive close together, so remembering the last ``limit`` keeps memory flat
    on a stream of any length.

    Two ways to use it: :meth:`seen` asks and remembers at once (a duplicate filter);
    :meth:`fresh` and :meth:`remember` keep a *fingerprint* with each key (a post's
    counters), so a post seen again with new counters counts as new (a source hands a
    growing repost cascade on again) and a key is remembered only once it was handed on.

    >>> recent = RecentKeys(limit=2)
    >>> recent.seen(("weibo", "1")), recent.seen(("weibo", "1"))
    (False, True)
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._keys: OrderedDict[Hashable, Hashable] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def seen(self, key: Hashable) -> bool:
        """True if ``key`` was seen before; remembers it either way."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self.remember(key)
        return False

    def fresh(self, key: Hashable, fingerprint: Hashable = None) -> bool:
        """True unless ``key`` was remembered with this ``fingerprint``; remembers nothing."""
        return key not in self._keys or self._keys[key] != fingerprint

    def remember(self, key: Hashable, fingerprint: Hashable = None) -> None:
        """Note ``key`` (call after ``sink.put`` returned, so nothing unsent is skipped)."""
        self._keys[key] = fingerprint
        self._keys.move_to_end(key)
        while len(self._keys) > self.limit:
            self._keys.popitem(last=False)
