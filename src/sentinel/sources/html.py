"""HTML -> plain text for posts, keeping what carries meaning on Chinese platforms.

Weibo (and RSSHub's routes, and WeChat articles) hand out post text as HTML. The words a
classifier needs survive, and so do two things a naive tag stripper loses:

* emoticons are ``<img alt="[怒]">`` images: the alt text ``[怒]`` ("angry") is a strong
  sentiment signal, so an image whose alt looks like ``[...]`` becomes that text;
* topics are links, ``<a href=...><span>#话题#</span></a>``: the ``#话题#`` text stays.

Link targets, scripts, styles and the "全文" / "网页链接" link labels are dropped.

>>> html_to_text('太差了<span class="url-icon"><img alt="[怒]" src="x.png"></span><br/>'
...              '<a href="/search"><span class="surl-text">#某品牌翻车#</span></a>')
'太差了[怒]\\n#某品牌翻车#'
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_SKIP_CONTENT = frozenset({"script", "style", "head", "title", "noscript", "template", "svg", "iframe"})
_BLOCK = frozenset(
    "p div br li ul ol tr table h1 h2 h3 h4 h5 h6 section article blockquote pre hr header footer".split()
)
# Link labels that are navigation, not content: "full text", "web link", "view image".
_NAV_LABELS = frozenset({"全文", "网页链接", "查看图片", "展开全文", "收起全文", "原图", "查看原图"})
_EMOTICON = re.compile(r"^\[[^\[\]\s]{1,12}\]$")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u3000\u200b\ufeff]+")
_MANY_NEWLINES = re.compile(r"\n{2,}")
# Characters that never belong in post text (C0 controls except tab/newline, DEL, lone surrogates).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._link_start: list[int] = []  # index into parts where each open <a> began

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_CONTENT:
            self._skip_depth += 1
            return
        if self._skip_depth:
            return
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if _EMOTICON.match(alt):
                self.parts.append(alt)
        elif tag == "a":
            self._link_start.append(len(self.parts))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <img/>: never open a skip region
        if tag in _SKIP_CONTENT:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_CONTENT:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag == "a" and self._link_start:
            start = self._link_start.pop()
            label = "".join(self.parts[start:]).strip().lstrip(".…").strip()
            if label in _NAV_LABELS:
                del self.parts[start:]
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, emoticon alt text and #topics# kept, whitespace tidied."""
    if "<" not in html and "&" not in html:
        text = html
    else:
        collector = _TextCollector()
        try:
            collector.feed(html)
            collector.close()
        except (AssertionError, ValueError):  # pragma: no cover - html.parser is lenient; be safe anyway
            pass
        text = "".join(collector.parts)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = "\n".join(line for line in lines if line)
    return _MANY_NEWLINES.sub("\n", text)
