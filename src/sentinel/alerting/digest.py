"""Briefings (舆情日报 / 周报): what a set of watches did over a day or a week, on a schedule.

A ``[[digest]]`` names its watches, the competitors to set beside them, a cron schedule and
where it goes. Each run covers the ``period`` up to the run and says, per watch, the volume
and negative share against the period before, the trend (SVG charts, as in the review
report), the top stories, the hot words (jieba's TF-IDF keywords over the period's posts, the
watches' own query terms left out), the competitors side by side, and the period's alerts and
responses. The numbers come from :func:`~sentinel.alerting.report.build_report`, so a
briefing and a review never disagree.

It is kept as a self-contained HTML file in ``out`` (the review report's template and CSP),
mailed as HTML through the ``smtp`` channels, and announced on the chat channels as a short
card that links to ``link_base`` + the file's name when the team serves ``out`` somewhere.
:class:`DigestScheduler` runs the digests inside the daemon (APScheduler cron triggers);
``sentinel digest run NAME`` makes one now.
"""

from __future__ import annotations

import asyncio
import gc
import html
import logging
import re
import warnings
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from sentinel.alerting import charts
from sentinel.alerting.manage import AlertRecord
from sentinel.alerting.render import _LEVEL, _SENTIMENT
from sentinel.alerting.report import ReportData, StoryRow, build_report
from sentinel.alerting.responses import ResponseEvent
from sentinel.clock import Clock
from sentinel.config import Config, DigestConfig, level_rank
from sentinel.notify.message import LEVEL_COLOURS, format_count
from sentinel.notify.sanitize import safe_url
from sentinel.store.sql import SqlStore

__all__ = ["Briefing", "WatchDigest", "build_briefing", "hot_words", "period_end", "render_briefing"]

log = logging.getLogger("sentinel")

_WORDS = {
    "zh": {
        "daily": "舆情日报",
        "weekly": "舆情周报",
        "range": "时间范围",
        "generated": "生成于",
        "overview": "概览",
        "watch": "监测",
        "posts": "帖子",
        "vs": "环比",
        "negative": "负面占比",
        "peak": "最高级别",
        "alerts": "预警",
        "competitor": "竞品",
        "trend": "声量与情绪趋势",
        "stories": "热点事件",
        "story": "帖子",
        "author": "作者",
        "reposts": "期间转发",
        "first_seen": "首次出现",
        "hot": "热词",
        "hot_note": "按 TF-IDF 权重（jieba）排序，已去掉监测规则中的词。",
        "alerts_responses": "预警与回应",
        "opened": "开启",
        "status": "状态",
        "acked": "确认人",
        "responses": "回应",
        "kind": "类型",
        "note": "说明",
        "none": "无",
        "volume_chart": "声量",
        "volume_unit": "帖子数（条/{bucket}）",
        "hour": "小时",
        "day": "天",
        "baseline": "基线",
        "sentiment_chart": "情感占比",
        "share_unit": "占比",
        "posts_n": "{n} 条",
        "card_watch": "{watch}：帖子 {posts}（环比 {dv}），负面 {neg}（{dn}）",
        "card_alerts": "预警 {n} 次，最高 {level}；回应 {r} 次",
        "card_hot": "热词：{words}",
        "card_link": "查看完整简报",
        "pp": "{x:+.1f} 个百分点",
        "new": "新增",
    },
    "en": {
        "daily": "Daily briefing",
        "weekly": "Weekly briefing",
        "range": "Range",
        "generated": "generated",
        "overview": "Overview",
        "watch": "watch",
        "posts": "posts",
        "vs": "vs previous",
        "negative": "negative share",
        "peak": "peak level",
        "alerts": "alerts",
        "competitor": "competitor",
        "trend": "Volume and sentiment",
        "stories": "Top stories",
        "story": "post",
        "author": "author",
        "reposts": "reposts in period",
        "first_seen": "first seen",
        "hot": "Hot words",
        "hot_note": "By TF-IDF weight (jieba), the watches' own query terms left out.",
        "alerts_responses": "Alerts and responses",
        "opened": "opened",
        "status": "status",
        "acked": "acknowledged by",
        "responses": "Responses",
        "kind": "kind",
        "note": "note",
        "none": "none",
        "volume_chart": "Volume",
        "volume_unit": "posts per {bucket}",
        "hour": "hour",
        "day": "day",
        "baseline": "baseline",
        "sentiment_chart": "Sentiment",
        "share_unit": "share",
        "posts_n": "{n} posts",
        "card_watch": "{watch}: {posts} ({dv}), negative {neg} ({dn})",
        "card_alerts": "{n} alert(s), peak {level}; {r} response(s)",
        "card_hot": "Hot words: {words}",
        "card_link": "Open the briefing",
        "pp": "{x:+.1f} pp",
        "new": "new",
    },
}
_QUERY_OPS = {"AND", "OR", "NOT"}
# the platform's own words, in every other post, about no story
PLATFORM_WORDS = frozenset(
    {"转发", "微博", "回复", "评论", "网页链接", "全文", "视频", "图片", "超话", "展开"}
)
MAX_TEXTS = 20_000  # distinct texts given to the keyword extractor (a busy week has more)


@dataclass(slots=True)
class WatchDigest:
    """One watch over the period, and the period before it."""

    watch: str
    competitor: bool
    report: ReportData
    previous_posts: int
    previous_negative: int

    @property
    def posts(self) -> int:
        return self.report.posts

    @property
    def negative_share(self) -> float:
        return self.report.share("negative")

    @property
    def previous_share(self) -> float | None:
        return self.previous_negative / self.previous_posts if self.previous_posts else None

    def volume_change(self) -> float | None:
        """After / before - 1 (None without a previous period to compare with)."""
        return self.posts / self.previous_posts - 1 if self.previous_posts else None


@dataclass(slots=True)
class Briefing:
    spec: DigestConfig
    since: datetime
    until: datetime
    generated_at: datetime
    tz: tzinfo
    watches: list[WatchDigest] = field(default_factory=list)
    hot: list[tuple[str, float]] = field(default_factory=list)

    @property
    def title(self) -> str:
        if self.spec.title:
            return self.spec.title
        daily = self.until - self.since <= timedelta(days=1)
        return _WORDS[self.spec.lang]["daily" if daily else "weekly"]

    @property
    def main(self) -> list[WatchDigest]:
        return [w for w in self.watches if not w.competitor]

    def alerts(self) -> list[tuple[str, AlertRecord]]:
        return sorted(
            ((w.watch, a) for w in self.main for a in w.report.alerts), key=lambda x: x[1].opened_at
        )

    def responses(self) -> list[tuple[str, ResponseEvent]]:
        return sorted(((w.watch, r) for w in self.main for r in w.report.responses), key=lambda x: x[1].at)

    def peak(self) -> str | None:
        levels = [w.report.peak_level for w in self.main if w.report.peak_level]
        return max(levels, key=level_rank) if levels else None

    def file_name(self) -> str:
        return f"{self.spec.name}-{self.until.astimezone(self.tz):%Y%m%d-%H%M}.html"

    def link(self) -> str | None:
        base = self.spec.link_base
        return safe_url(base.rstrip("/") + "/" + self.file_name()) if base else None


def period_end(now: datetime) -> datetime:
    """A run's period ends at the minute it started (a 09:00 run covers up to 09:00:00)."""
    return now.replace(second=0, microsecond=0)


async def build_briefing(
    store: SqlStore, config: Config, spec: DigestConfig, *, until: datetime, clock: Clock
) -> Briefing:
    """Read the store and compute the briefing ``spec`` for the period ending ``until``."""
    tz = ZoneInfo(spec.timezone)
    period = timedelta(seconds=spec.period)
    since = until - period
    b = Briefing(spec, since, until, clock.now(), tz)
    for name, competitor in [*((w, False) for w in spec.watches), *((w, True) for w in spec.competitors)]:
        now = await build_report(store, config, name, since=since, until=until, clock=clock, tz=tz)
        before = await build_report(
            store, config, name, since=since - period, until=since, clock=clock, tz=tz
        )
        b.watches.append(
            WatchDigest(name, competitor, now, before.posts, before.sentiment.get("negative", 0))
        )
    texts = list(dict.fromkeys(sp.post.text for w in b.main for sp in w.report.in_range))[:MAX_TEXTS]
    exclude = {t for w in config.watches if w.name in spec.watches for t in _query_terms(w.query)}
    b.hot = await asyncio.to_thread(hot_words, texts, exclude, spec.top * 2)
    return b


def _query_terms(query: str) -> set[str]:
    words = re.findall(r"[\w\u4e00-\u9fff]+", query)
    return {w.lower() for w in words if w.upper() not in _QUERY_OPS}


@cache
def _extractor() -> Any:
    with warnings.catch_warnings():
        # jieba 0.42 reads its IDF table without closing the file (on import, and per TFIDF)
        warnings.simplefilter("ignore", ResourceWarning)
        import jieba
        import jieba.analyse

        jieba.setLogLevel(logging.WARNING)  # it announces building its dictionary on stderr otherwise
        extractor = jieba.analyse.TFIDF()
        gc.collect()  # the unclosed files go now, while their warning is ignored
    return extractor


def hot_words(
    texts: Sequence[str], exclude: Set[str] = frozenset(), top: int = 20
) -> list[tuple[str, float]]:
    """The period's keywords by TF-IDF weight (jieba), without the ``exclude`` terms (lower-cased)
    or any piece of one, single characters and numbers."""
    if not texts:
        return []
    extractor = _extractor()
    raw = extractor.extract_tags("\n".join(texts), topK=top + len(exclude) + 20, withWeight=True)
    out = [
        (str(word), float(weight))
        for word, weight in raw
        if len(word) > 1
        and word not in PLATFORM_WORDS
        and not any(str(word).lower() in term for term in exclude)  # 艾克 of 艾克美 too
        and not re.fullmatch(r"[\d.%]+", word)
    ]
    return out[:top]


# -- rendering ------------------------------------------------------------------------------------


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _change(w: WatchDigest, lang: str) -> str:
    """Volume against the period before: +12%, 新增 (none before), — (none either time)."""
    x = w.volume_change()
    if x is None:
        return _WORDS[lang]["new"] if w.posts else "—"
    return f"{100 * x:+.0f}%"


def _pp(now: float, before: float | None, lang: str) -> str:
    return "—" if before is None else _WORDS[lang]["pp"].format(x=100 * (now - before))


def _when(b: Briefing, dt: datetime | None) -> str:
    return "—" if dt is None else dt.astimezone(b.tz).strftime("%Y-%m-%d %H:%M")


def _stories(b: Briefing) -> list[tuple[str, StoryRow]]:
    rows = [(w.watch, s) for w in b.main for s in w.report.stories]
    # the biggest in the period first; among equals, the most reposted overall and the darkest
    return sorted(rows, key=lambda x: (-x[1].posts, -x[1].reposts, -x[1].negative_share, x[1].first_at))[
        : b.spec.top
    ]


def render_briefing(b: Briefing) -> str:
    """The briefing as one self-contained HTML page (inline SVG charts, no script, strict CSP)."""
    lang = b.spec.lang
    t = _WORDS[lang]
    s: list[str] = [
        f"<h1>{_h(b.title)} · {_h('、'.join(b.spec.watches))}</h1>",
        f'<p class="meta">{_h(t["range"])} {_h(_when(b, b.since))} – {_h(_when(b, b.until))} '
        f"({_h(b.spec.timezone)}) · {_h(t['generated'])} {_h(_when(b, b.generated_at))}</p>",
        f"<h2>{_h(t['overview'])}</h2>",
        "<table><thead><tr>"
        + "".join(
            f"<th>{_h(x)}</th>"
            for x in (t["watch"], t["posts"], t["vs"], t["negative"], t["vs"], t["peak"], t["alerts"])
        )
        + "</tr></thead><tbody>",
    ]
    for w in b.watches:
        r = w.report
        level = (
            f'<span class="level level-{_h(r.peak_level)}">{_h(_LEVEL[lang].get(r.peak_level, r.peak_level))}</span>'
            if r.peak_level
            else "—"
        )
        name = f"{w.watch}（{t['competitor']}）" if w.competitor and lang == "zh" else w.watch
        if w.competitor and lang != "zh":
            name += f" ({t['competitor']})"
        s.append(
            f'<tr><td>{_h(name)}</td><td class="num">{_h(t["posts_n"].format(n=f"{w.posts:,}"))}</td>'
            f'<td class="num">{_h(_change(w, lang))}</td>'
            f'<td class="num">{100 * w.negative_share:.1f}%</td>'
            f'<td class="num">{_h(_pp(w.negative_share, w.previous_share, lang))}</td>'
            f'<td>{level}</td><td class="num">{len(r.alerts):,}</td></tr>'
        )
    s.append("</tbody></table>")

    s.append(f"<h2>{_h(t['trend'])}</h2>")
    for w in b.main:
        bucket = t["hour"] if w.report.buckets.size <= timedelta(hours=1) else t["day"]
        s.append(
            "<figure>"
            + charts.volume_chart(
                w.report.buckets,
                w.report.responses,
                b.tz,
                title=f"{w.watch} · {t['volume_chart']}",
                unit=t["volume_unit"].format(bucket=bucket),
                legend=(t["posts"], t["baseline"]),
                lang=lang,
                name=f"volume-{w.watch}",
            )
            + "</figure><figure>"
            + charts.sentiment_chart(
                w.report.buckets,
                w.report.responses,
                b.tz,
                title=f"{w.watch} · {t['sentiment_chart']}",
                unit=t["share_unit"],
                names=_SENTIMENT[lang],
                lang=lang,
                name=f"sentiment-{w.watch}",
            )
            + "</figure>"
        )

    s.append(f"<h2>{_h(t['stories'])}</h2>")
    rows = _stories(b)
    if rows:
        s.append(
            "<table><thead><tr>"
            + "".join(
                f"<th>{_h(x)}</th>"
                for x in (t["watch"], t["story"], t["author"], t["reposts"], t["negative"], t["first_seen"])
            )
            + "</tr></thead><tbody>"
        )
        for watch, st in rows:
            url = safe_url(st.url)
            text = _h(_clip(st.text, 120))
            link = f'<a href="{_h(url)}" rel="noopener noreferrer">{text}</a>' if url else text
            s.append(
                f"<tr><td>{_h(watch)}</td><td>{link}</td><td>{_h(st.author)}</td>"
                f'<td class="num">{st.posts - 1:,}</td><td class="num">{100 * st.negative_share:.0f}%</td>'
                f"<td>{_h(_when(b, st.first_at))}</td></tr>"
            )
        s.append("</tbody></table>")
    else:
        s.append(f'<p class="note">{_h(t["none"])}</p>')

    s.append(f"<h2>{_h(t['hot'])}</h2>")
    if b.hot:
        top = b.hot[0][1] or 1.0
        s.append(
            '<p class="words">'
            + " ".join(
                f'<span class="word" style="font-size: {round(13 + 15 * weight / top)}px">{_h(word)}</span>'
                for word, weight in b.hot[: b.spec.top]
            )
            + "</p>"
        )
        s.append(f'<p class="note">{_h(t["hot_note"])}</p>')
    else:
        s.append(f'<p class="note">{_h(t["none"])}</p>')

    s.append(f"<h2>{_h(t['alerts_responses'])}</h2>")
    alerts = b.alerts()
    if not alerts:
        s.append(
            f'<p class="note">{_h(t["alerts"])}：{_h(t["none"])}</p>'
            if lang == "zh"
            else f'<p class="note">{_h(t["alerts"])}: {_h(t["none"])}</p>'
        )
    if alerts:
        s.append(
            "<table><thead><tr>"
            + "".join(
                f"<th>{_h(x)}</th>"
                for x in ("#", t["watch"], t["opened"], t["peak"], t["status"], t["acked"])
            )
            + "</tr></thead><tbody>"
        )
        for watch, a in alerts:
            s.append(
                f'<tr><td class="num">{a.id}</td><td>{_h(watch)}</td><td>{_h(_when(b, a.opened_at))}</td>'
                f'<td><span class="level level-{_h(a.level)}">{_h(_LEVEL[lang].get(a.level, a.level))}</span>'
                f" {a.risk:.0f}</td><td>{_h(a.status)}</td><td>{_h(a.acked_by or '—')}</td></tr>"
            )
        s.append("</tbody></table>")
    responses = b.responses()
    s.append(f"<h3>{_h(t['responses'])}</h3>")
    if responses:
        s.append(
            "<table><thead><tr>"
            + "".join(f"<th>{_h(x)}</th>" for x in (t["watch"], t["opened"], t["kind"], t["note"]))
            + "</tr></thead><tbody>"
        )
        for watch, resp in responses:
            kind = charts.KIND_NAMES[lang].get(resp.kind, resp.kind)
            s.append(
                f"<tr><td>{_h(watch)}</td><td>{_h(_when(b, resp.at))}</td><td>{_h(kind)}</td>"
                f"<td>{_h(resp.note or '')}</td></tr>"
            )
        s.append("</tbody></table>")
    else:
        s.append(f'<p class="note">{_h(t["none"])}</p>')
    template = Template(
        (resources.files("sentinel") / "templates" / "report.html").read_text(encoding="utf-8")
    )
    return template.substitute(
        lang="zh-CN" if lang == "zh" else "en",
        title=_h(f"{b.title} · {'、'.join(b.spec.watches)} · {b.until.astimezone(b.tz):%Y-%m-%d}"),
        body="\n".join(s),
    )


def summary_lines(b: Briefing) -> list[str]:
    """The briefing in a few lines: the chat card's body and the mail's text part."""
    lang = b.spec.lang
    t = _WORDS[lang]
    lines = [
        t["card_watch"].format(
            watch=w.watch + (f"（{t['competitor']}）" if w.competitor and lang == "zh" else ""),
            posts=t["posts_n"].format(n=format_count(w.posts, lang)),
            dv=_change(w, lang),
            neg=f"{100 * w.negative_share:.1f}%",
            dn=_pp(w.negative_share, w.previous_share, lang),
        )
        for w in b.watches
    ]
    peak = b.peak()
    lines.append(
        t["card_alerts"].format(
            n=len(b.alerts()), level=_LEVEL[lang].get(peak, peak) if peak else t["none"], r=len(b.responses())
        )
    )
    if b.hot:
        lines.append(t["card_hot"].format(words="、".join(w for w, _ in b.hot[:8])))
    return lines


def card_colour(b: Briefing) -> str:
    peak = b.peak()
    return LEVEL_COLOURS.get(peak, "#607D8B") if peak else "#607D8B"


def write_briefing(b: Briefing, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / b.file_name()
    path.write_text(render_briefing(b), encoding="utf-8")
    return path
