"""RSS 2.0, Atom and JSON Feed: RSSHub's Weibo and WeChat routes, news sites, blogs.

Config (``[[source]] type = "rss"``)::

    urls = ["https://rsshub.example/weibo/keyword/艾克美"]   # or one `url`
    platform = "weibo"          # what the posts are (default "rss")
    id_regex = "(\\d+)$"       # optional: the post id inside the guid / link
    interval = "5m"

RSS and Atom go through ``feedparser``; JSON Feed is read directly. The id is the guid
(``<guid>``, ``<id>``, ``id``), else the link. Titles that merely repeat the start of
the body (RSSHub's Weibo routes) are dropped; HTML is cleaned keeping ``[emoticons]``
and ``#topics#``. ``ETag`` / ``Last-Modified`` make unchanged feeds cost a 304.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import xml.sax
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser
from pydantic import Field, field_validator, model_validator

from sentinel.sources.base import PostSink
from sentinel.sources.html import html_to_text
from sentinel.sources.http import FetchError, HttpOptions, PollingSource, SeenSet, count_error

__all__ = ["RssOptions", "RssSource", "entry_to_post", "parse_feed"]

MAX_ITEMS = 1000  # per document: a feed is a window of recent items, not an archive


class RssOptions(HttpOptions):
    """``[[source]] type = "rss"`` options."""

    url: str | None = None
    urls: list[str] = Field(default_factory=list)
    platform: str = Field("rss", min_length=1)
    id_regex: str | None = None
    rate: float = Field(1.0, ge=0)

    @field_validator("id_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if re.compile(value).groups < 1:
                    raise ValueError("needs one capturing group, e.g. '(\\d+)$'")
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _some_url(self) -> RssOptions:
        if not self.url and not self.urls:
            raise ValueError("url: give the feed's url (or urls)")
        return self

    @property
    def all_urls(self) -> list[str]:
        return ([self.url] if self.url else []) + list(self.urls)


def _text(title: str, body: str) -> str:
    title = html_to_text(title)
    if not body:
        return title
    stem = title.rstrip(".…").strip()
    if not stem or body.startswith(stem):
        return body
    return f"{title}\n{body}"


def _post(
    *,
    platform: str,
    raw_id: Any,
    link: Any,
    title: Any,
    body: str,
    when: datetime | None,
    author: Any,
    id_regex: str | None,
    now: datetime,
) -> dict[str, Any]:
    title = title if isinstance(title, str) else ""
    text = _text(title, body)
    ident = raw_id if isinstance(raw_id, str) and raw_id.strip() else link if isinstance(link, str) else None
    if not ident or not ident.strip():
        if not text:
            raise ValueError("item has no id, link or text")
        ident = hashlib.sha1(text.encode()).hexdigest()[:20]  # stable: the same item gets the same id
    ident = ident.strip()
    if id_regex and (m := re.search(id_regex, ident)):
        ident = m.group(1)
    post: dict[str, Any] = {
        "platform": platform,
        "id": ident[:256],
        "text": text,
        "created_at": (when or now).isoformat(),
        "author": {"name": author[:200]} if isinstance(author, str) and author.strip() else None,
        "url": link if isinstance(link, str) and link else None,
    }
    if when is None:
        post["time_estimated"] = True  # no date in the feed: the time it was first seen
    return post


def entry_to_post(
    entry: Mapping[str, Any], *, platform: str, now: datetime, id_regex: str | None = None
) -> dict[str, Any]:
    """A feedparser entry as a canonical post dict."""
    body = ""
    content = entry.get("content")
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        body = html_to_text(str(content[0].get("value") or ""))
    if not body and isinstance(entry.get("summary"), str):
        body = html_to_text(entry["summary"])
    when = None
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                when = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
                break
            except (TypeError, ValueError, OverflowError):
                continue
    return _post(
        platform=platform,
        raw_id=entry.get("id"),
        link=entry.get("link"),
        title=entry.get("title"),
        body=body,
        when=when,
        author=entry.get("author"),
        id_regex=id_regex,
        now=now,
    )


def json_item_to_post(
    item: Any, *, platform: str, now: datetime, id_regex: str | None = None
) -> dict[str, Any]:
    """A JSON Feed (1.0 / 1.1) item as a canonical post dict."""
    if not isinstance(item, dict):
        raise TypeError("item is not an object")
    raw = item.get("content_html") or item.get("summary")
    body = html_to_text(raw) if isinstance(raw, str) else ""
    if not body and isinstance(item.get("content_text"), str):
        body = html_to_text(item["content_text"])
    when = None
    for key in ("date_published", "date_modified"):
        value = item.get(key)
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            break
    authors = item.get("authors")
    first = authors[0] if isinstance(authors, list) and authors else item.get("author")
    author = first.get("name") if isinstance(first, dict) else None
    raw_id = item.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    return _post(
        platform=platform,
        raw_id=raw_id,
        link=item.get("url"),
        title=item.get("title"),
        body=body,
        when=when,
        author=author,
        id_regex=id_regex,
        now=now,
    )


def parse_feed(
    body: bytes | str,
    *,
    platform: str,
    now: datetime,
    id_regex: str | None = None,
    content_type: str = "",
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], bool]:
    """A feed document -> (posts, rejections, damaged); raises FetchError when nothing is readable."""
    head = body[:64].lstrip() if isinstance(body, str) else body[:64].lstrip().decode("latin-1")
    posts: list[dict[str, Any]] = []
    rejects: list[tuple[str, str]] = []
    if head.startswith("{") or "json" in content_type:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            kind = "bad_encoding" if isinstance(exc, UnicodeDecodeError) else "bad_json"
            raise FetchError(kind, f"JSON Feed: {str(exc)[:120]}") from None
        items = doc.get("items") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise FetchError("bad_shape", "JSON Feed without an items list")
        for item in items[:MAX_ITEMS]:
            try:
                posts.append(json_item_to_post(item, platform=platform, now=now, id_regex=id_regex))
            except (TypeError, ValueError, KeyError) as exc:
                rejects.append(("bad_shape", f"{type(exc).__name__}: {exc}"[:200]))
        return posts, rejects, False
    parsed = feedparser.parse(body, response_headers={"content-type": content_type} if content_type else None)
    # encoding notes are harmless; a SAX error means the XML is cut or broken somewhere
    damaged = bool(parsed.get("bozo")) and isinstance(parsed.get("bozo_exception"), xml.sax.SAXException)
    if parsed.get("bozo") and not parsed.entries and not parsed.get("version"):
        raise FetchError("bad_xml", f"not a feed: {str(parsed.get('bozo_exception'))[:120]}")
    entries = list(parsed.entries[:MAX_ITEMS])
    if damaged:
        # In a cut or garbled document the entry at the break is partial (text cut short, no
        # guid, no date) and junk after it can read as entries without ids: leave those for
        # the next run, which fetches the whole feed again (no ETag is kept for this one).
        entries = [e for e in entries if e.get("id") or e.get("link")][:-1]
    for entry in entries:
        try:
            posts.append(entry_to_post(entry, platform=platform, now=now, id_regex=id_regex))
        except (TypeError, ValueError, KeyError) as exc:
            rejects.append(("bad_shape", f"{type(exc).__name__}: {exc}"[:200]))
    return posts, rejects, damaged


class RssSource(PollingSource):
    """Polls RSS / Atom / JSON Feed documents; see the module docstring for config."""

    options_model = RssOptions
    options: RssOptions

    async def run(self, cursor: dict[str, Any], sink: PostSink) -> int:
        emitted = 0
        error: FetchError | None = None
        for url in self.options.all_urls:
            try:
                emitted += await self._feed(url, cursor, sink)
            except FetchError as exc:
                if exc.blocked:
                    raise
                error = exc  # one broken feed does not stop the others
        if error is not None:
            raise error
        return emitted

    async def _feed(self, url: str, cursor: dict[str, Any], sink: PostSink) -> int:
        result = await self.fetcher.get(url, conditional=True)
        if result is None:
            return 0  # 304 Not Modified
        body: bytes | str = result.body
        clean = True
        try:
            result.body.decode("utf-8")
        except UnicodeDecodeError:
            if b"encoding=" not in result.body[:200].lower() or b"utf-8" in result.body[:200].lower():
                # one bad byte must not turn a whole Chinese feed into mojibake: replace just it
                count_error(self.ctx.health, "bad_encoding")
                body = result.body.decode("utf-8", "replace")
                clean = False
        posts, rejects, damaged = parse_feed(
            body,
            platform=self.options.platform,
            now=self.ctx.clock.now(),
            id_regex=self.options.id_regex,
            content_type=result.headers.get("content-type", ""),
        )
        if damaged:
            count_error(self.ctx.health, "bad_xml")  # entries before the damage still count
        for reason, detail in rejects:
            sink.reject(reason, detail)
        seen = SeenSet(cursor.get(url))
        emitted = 0
        try:
            for post in posts:
                ts = datetime.fromisoformat(post["created_at"]).timestamp()
                if not seen.is_new(post["id"], None if post.get("time_estimated") else ts):
                    continue
                accepted = await sink.put(post)
                seen.add(post["id"], ts)  # after put: an interrupted put must not mark the post seen
                emitted += accepted
        finally:
            cursor[url] = seen.to_json()
        if clean and not damaged:
            self.keep_validators(result)
        return emitted
