"""Untrusted text made harmless for chat services.

Post text and author names come from strangers. In a chat message they could ping a
whole company (Slack ``<!channel>``, DingTalk/WeCom ``@所有人``, Feishu
``<at user_id="all">``), render links, images or HTML, or forge our own layout with
headings and line breaks. :func:`neutralize` replaces every character that any of the
services reads as markup with its full-width twin (readable, inert everywhere), folds
line breaks, and drops control and bidi-override characters. Our own template text is
trusted and is not passed through it.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from sentinel.obs.logs import redact as redact_text
from sentinel.obs.logs import redact_url

__all__ = [
    "neutralize",
    "one_line",
    "redact_text",
    "redact_url",
    "safe_url",
    "truncate_bytes",
    "truncate_chars",
]

ELLIPSIS = "…"

# Each of these starts a mention, a link, an image, an HTML tag or an entity, or emphasis,
# in at least one of Slack mrkdwn, DingTalk/WeCom markdown and Feishu lark_md.
_FULLWIDTH = str.maketrans(
    {
        "@": "＠",
        "<": "＜",
        ">": "＞",
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "&": "＆",
        "*": "＊",
        "_": "＿",
        "`": "｀",
        "~": "～",
        "#": "＃",
        "|": "｜",
        "!": "！",
        "\\": "＼",
        "$": "＄",
        "{": "｛",
        "}": "｝",
    }
)
_WS = re.compile(r"\s+")
# bidi overrides/isolates can make "moc.live" read as "evil.com"; zero-width characters can
# hide a mention ("@\u200ball") from a naive filter, so drop them before translating
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
# "https://x" in a post auto-links in several services; break the scheme so it stays text
_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|tel|sms|dingtalk|lark|slack|weixin|javascript|data):")


def neutralize(text: object, max_chars: int | None = None) -> str:
    """Make untrusted text inert in every channel; optionally cut to ``max_chars`` characters."""
    s = "" if text is None else str(text)
    s = unicodedata.normalize("NFKC", s)  # fold look-alikes ("＠" etc.) back first, then re-escape all
    s = _INVISIBLE.sub("", s)
    s = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in s)
    s = _WS.sub(" ", s).strip()
    s = _SCHEME.sub(lambda m: m.group(1) + "：", s)
    s = s.translate(_FULLWIDTH)
    return truncate_chars(s, max_chars) if max_chars is not None else s


def truncate_chars(text: str, limit: int) -> str:
    """At most ``limit`` characters (code points), ending in "…" when cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def truncate_bytes(text: str, limit: int, encoding: str = "utf-8") -> str:
    """At most ``limit`` encoded bytes, cut on a character boundary, ending in "…" when cut."""
    data = text.encode(encoding)
    if len(data) <= limit:
        return text
    room = limit - len(ELLIPSIS.encode(encoding))
    if room <= 0:
        return ""
    # decoding with "ignore" drops a multi-byte character split by the cut, never a whole one
    return data[:room].decode(encoding, errors="ignore").rstrip() + ELLIPSIS


_URL_SAFE = "/:?=&%.-~+,;"


def safe_url(url: object) -> str | None:
    """An http(s) link that cannot break out of any channel's link syntax, or None.

    Post URLs come from the platform (or whoever feeds the file source): anything that is
    not plain http(s) is dropped, and every character that ends a link in markdown,
    mrkdwn or HTML (spaces, brackets, quotes, ``|``) is percent-encoded.
    """
    if not isinstance(url, str) or len(url) > 2000:
        return None
    s = url.strip()
    try:
        parts = urlsplit(s)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    from urllib.parse import quote

    return quote(s, safe=_URL_SAFE + "#")


def one_line(text: str, max_chars: int) -> str:
    """Trusted text (our templates, already-neutralised values) as one line of plain text."""
    s = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return truncate_chars(_WS.sub(" ", s).strip(), max_chars)
