"""Any JSON API, by a declarative field mapping: vendor APIs, in-house crawlers.

Config (``[[source]] type = "jsonfeed"``)::

    url = "https://api.vendor.example/v1/posts"
    params = { keyword = "艾克美" }
    platform = "weibo"                    # what the posts are
    items = "data.list"                   # dotted path to the list ("" = the body is the list)
    page_param = "page"                   # omit for a single page
    page_start = 1
    has_more = "data.has_more"            # optional: stop when false
    ok_path = "code"                      # optional: the body's status field ...
    ok_value = 0                          # ... and the value meaning success
    time_format = "%Y-%m-%d %H:%M:%S"     # iso | epoch | epoch_ms | weibo | a strptime pattern
    timezone = "+08:00"                   # for times written without an offset
    fields = { id = "mid", text = "content", created_at = "time", "author.id" = "user.uid",
               "author.name" = "user.nick", "author.followers" = "user.fans", likes = "stats.like" }

Paths are dotted, with list indices as numbers (``authors.0.name``). Required fields:
``id``, ``text``, ``created_at``; others: ``title``, ``url``, ``reposts``, ``comments``,
``likes``, ``repost_of``, ``author.id``, ``author.name``, ``author.followers``,
``author.verified``, and ``extra.NAME`` for anything to keep alongside.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import Field, field_validator, model_validator

from sentinel.post import PostError
from sentinel.sources.base import PostSink
from sentinel.sources.html import html_to_text
from sentinel.sources.http import FetchError, HttpOptions, PollingSource, SeenSet, count_error
from sentinel.sources.weibo_parse import parse_count, parse_weibo_time

__all__ = ["FieldMapping", "JsonFeedOptions", "JsonFeedSource", "get_path"]

REQUIRED = ("id", "text", "created_at")
TARGETS = frozenset(
    {
        "id",
        "text",
        "created_at",
        "title",
        "url",
        "reposts",
        "comments",
        "likes",
        "repost_of",
        "author.id",
        "author.name",
        "author.followers",
        "author.verified",
    }
)
_MISSING = object()


def get_path(obj: Any, path: str) -> Any:
    """``get_path({"a": [{"b": 1}]}, "a.0.b") == 1``; missing -> None."""
    if not path:
        return obj
    for part in path.split("."):
        if isinstance(obj, Mapping):
            obj = obj.get(part, _MISSING)
        elif isinstance(obj, list) and part.lstrip("-").isdigit():
            index = int(part)
            obj = obj[index] if -len(obj) <= index < len(obj) else _MISSING
        else:
            return None
        if obj is _MISSING:
            return None
    return obj


def _offset(value: str) -> timezone:
    sign = -1 if value.startswith("-") else 1
    hours, _, minutes = value.lstrip("+-").partition(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))


class JsonFeedOptions(HttpOptions):
    """``[[source]] type = "jsonfeed"`` options: where the items are and how their fields map."""

    url: str = Field(min_length=1)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    platform: str = Field(min_length=1)
    items: str = "items"
    fields: dict[str, str]
    page_param: str | None = None
    page_start: int = 1
    has_more: str | None = None
    ok_path: str | None = None
    ok_value: Any = None
    time_format: str = "iso"
    timezone: str = "+08:00"
    html: bool = True

    @field_validator("fields")
    @classmethod
    def _known_targets(cls, fields: dict[str, str]) -> dict[str, str]:
        for target in fields:
            if target not in TARGETS and not (target.startswith("extra.") and len(target) > 6):
                raise ValueError(
                    f"unknown target {target!r} (one of {', '.join(sorted(TARGETS))}, extra.NAME)"
                )
        missing = [r for r in REQUIRED if r not in fields]
        if missing:
            raise ValueError(f"map the required fields {', '.join(missing)}")
        return fields

    @field_validator("timezone")
    @classmethod
    def _offset_ok(cls, value: str) -> str:
        try:
            _offset(value)
        except ValueError:
            raise ValueError(f"an offset like '+08:00', got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _format_ok(self) -> JsonFeedOptions:
        if self.time_format not in ("iso", "epoch", "epoch_ms", "weibo") and "%" not in self.time_format:
            raise ValueError(
                "time_format: iso, epoch, epoch_ms, weibo or a strptime pattern like '%Y-%m-%d %H:%M'"
            )
        return self


class FieldMapping:
    """Applies ``fields`` to one record; raises PostError with a countable reason."""

    def __init__(self, options: JsonFeedOptions) -> None:
        self.options = options
        self.tz = _offset(options.timezone)

    def time(self, value: Any, now: datetime) -> datetime:
        fmt = self.options.time_format
        try:
            if fmt in ("epoch", "epoch_ms"):
                if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError("not a number")
                return datetime.fromtimestamp(value / (1000 if fmt == "epoch_ms" else 1), UTC)
            if fmt == "weibo":
                return parse_weibo_time(value, now)
            if not isinstance(value, str):
                raise ValueError("not a string")
            when = (
                datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
                if fmt == "iso"
                else datetime.strptime(value.strip(), fmt)
            )
        except (ValueError, OverflowError, OSError) as exc:
            raise PostError("bad_timestamp", f"created_at {str(value)[:40]!r}: {exc}") from None
        return when if when.tzinfo is not None else when.replace(tzinfo=self.tz)

    def apply(self, record: Any, now: datetime) -> dict[str, Any]:
        if not isinstance(record, Mapping):
            raise PostError("not_object", f"item is a {type(record).__name__}")
        fields = self.options.fields
        values = {target: get_path(record, path) for target, path in fields.items()}
        raw_id = values["id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or not str(raw_id).strip():
            raise PostError("missing_field", f"id ({fields['id']}) is missing")
        text = values["text"]
        if not isinstance(text, str):
            raise PostError("missing_field", f"text ({fields['text']}) is missing")
        if self.options.html:
            text = html_to_text(text)
        title = values.get("title")
        if isinstance(title, str) and title.strip() and not text.startswith(title.strip()):
            text = f"{title.strip()}\n{text}"
        post: dict[str, Any] = {
            "platform": self.options.platform,
            "id": str(raw_id).strip(),
            "text": text,
            "created_at": self.time(values["created_at"], now).isoformat(),
        }
        for count in ("reposts", "comments", "likes"):
            if count in values:
                post[count] = parse_count(values[count])
        for key in ("url", "repost_of"):
            value = values.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                post[key] = str(value)
        author: dict[str, Any] = {}
        for target, value in values.items():
            if not target.startswith("author.") or value is None:
                continue
            name = target[len("author.") :]
            if name == "followers":
                author[name] = parse_count(value)
            elif name == "verified":
                author[name] = value is True or value in (1, "1", "true", "True")
            elif isinstance(value, str | int) and not isinstance(value, bool):
                author[name] = str(value)
        if author:
            post["author"] = author
        for target, value in values.items():
            if target.startswith("extra.") and value is not None:
                post[target[len("extra.") :]] = value
        return post


class JsonFeedSource(PollingSource):
    """Polls a JSON API through a declarative mapping; see the module docstring for config."""

    options_model = JsonFeedOptions
    options: JsonFeedOptions

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.mapping = FieldMapping(self.options)

    async def run(self, cursor: dict[str, Any], sink: PostSink) -> int:
        seen = SeenSet(cursor.get("seen"))
        try:
            return await self._pages(seen, sink)
        finally:
            cursor["seen"] = seen.to_json()

    async def _pages(self, seen: SeenSet, sink: PostSink) -> int:
        opts = self.options
        emitted = 0
        pages = opts.max_pages if opts.page_param else 1
        for index in range(pages):
            params: dict[str, Any] = dict(opts.params)
            if opts.page_param:
                params[opts.page_param] = opts.page_start + index
            result = await self.fetcher.get_json(opts.url, params, conditional=not opts.page_param)
            if result is None:
                return emitted  # 304: nothing new
            payload = result.data
            if opts.ok_path and get_path(payload, opts.ok_path) != opts.ok_value:
                status = get_path(payload, opts.ok_path)
                raise FetchError("api_error", f"{opts.url}: {opts.ok_path}={str(status)[:40]}")
            items = get_path(payload, opts.items)
            if items is None:
                break
            if not isinstance(items, list):
                raise FetchError("bad_shape", f"{opts.url}: {opts.items or 'the body'} is not a list")
            now = self.ctx.clock.now()
            beyond = False
            for item in items:
                try:
                    post = self.mapping.apply(item, now)
                except PostError as exc:
                    sink.reject(exc.reason, exc.detail)
                    continue
                ts = datetime.fromisoformat(post["created_at"]).timestamp()
                beyond = beyond or seen.beyond_mark(ts)
                if not seen.is_new(post["id"], ts):
                    continue
                accepted = await sink.put(post)
                seen.add(post["id"], ts)  # after put: an interrupted put must not mark the post seen
                emitted += accepted
            if not opts.page_param:
                self.keep_validators(result)
            if not items or not beyond or (opts.has_more and not get_path(payload, opts.has_more)):
                break
        else:
            if opts.page_param and seen.mark is not None:
                count_error(self.ctx.health, "page_cap")
        seen.complete()
        return emitted
