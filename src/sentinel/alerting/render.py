"""Write a :class:`~sentinel.alerting.report.ReportData` as HTML, Markdown and JSON: a 复盘.

The report follows the sections of a Chinese crisis review: 事件经过 (what happened, with
alerts, acknowledgements and responses), 传播分析 (how it spread), 情绪与话题, 应对与效果,
and the written part — 原因, 得失, 改进 — that people fill in with ``sentinel review note``.
It is in Chinese by default; ``lang="en"`` gives the same report in English.

* ``report.html`` — one self-contained file: the charts are inline SVG with their labels as
  text (the reader's browser draws the Chinese, so no font is needed where the report is
  made), no script, no network (its Content-Security-Policy allows only inline styles and
  ``data:`` images), so it can be mailed or archived as it is;
* ``report.md`` with its charts in ``charts/*.svg`` next to it;
* ``report.json`` — the numbers, for other tools.

All post text is untrusted: it is escaped for HTML and Markdown, and only http(s) links
are made clickable.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from string import Template

from sentinel.alerting import charts
from sentinel.alerting.report import ReportData, SpreadNode
from sentinel.alerting.responses import Effect
from sentinel.alerting.review import SECTIONS
from sentinel.alerting.stats import Comparison
from sentinel.notify.message import format_count, topic_name
from sentinel.notify.sanitize import safe_url

__all__ = ["LANGS", "ReportFiles", "render_charts", "render_html", "render_markdown", "write_report"]

LANGS = ("zh", "en")

# every word the report prints, by language
_T: dict[str, dict[str, str]] = {
    "zh": {
        "title": "舆情复盘报告",
        "range": "时间范围",
        "query": "监测规则",
        "no_query": "（配置中已无此监测：按其预警所列帖子）",
        "generated": "生成于",
        "posts": "帖子",
        "negative_share": "负面占比",
        "peak": "最高级别",
        "alerts": "预警",
        "first_response": "首次回应用时",
        "resolution": "解除用时",
        "s1": "一、事件经过",
        "s2": "二、传播分析",
        "s3": "三、情绪与话题",
        "s4": "四、应对与效果",
        "s5": "五、原因、得失与改进",
        "method": "附：方法说明",
        "risk_chart": "风险分与预警级别",
        "risk_caption": "风险分取自预警引擎记录的事件；底色为预警级别，虚线为回应时间。",
        "risk_unit": "风险分（0–100）",
        "volume_chart": "声量与基线",
        "volume_caption": "每{bucket}帖子数；基线为此前 24 小时（或 7 天）的中位数。",
        "volume_unit": "帖子数（条/{bucket}）",
        "hour": "小时",
        "day": "天",
        "baseline": "基线",
        "sentiment_chart": "情感占比",
        "sentiment_caption": "每{bucket}负面、中性、正面帖子的占比。",
        "share_unit": "占比",
        "topics_chart": "危机话题",
        "topics_caption": "话题得分 ≥ 0.5 的帖子数。",
        "topics_unit": "帖子数（条）",
        "none": "无",
        "time": "时间",
        "what": "事件",
        "level": "级别",
        "risk": "风险分",
        "detail": "说明",
        "ev_alert": "预警{event}",
        "ev_ack": "确认预警 #{id}",
        "ev_response": "回应：{kind}",
        "ev_silence": "静默通知至 {until}",
        "by": "{who}",
        "stories": "主要传播链",
        "story": "帖子",
        "author": "作者",
        "reposts_in_range": "期间转发",
        "reposts_total": "累计转发",
        "negative": "负面",
        "first_seen": "首次出现",
        "tree": "转发树（前几层，括号内为其下转发数）",
        "spreaders": "关键传播者",
        "spreaders_note": "转发后又被他人转发最多的用户。",
        "reposts_below": "其下转发",
        "followers": "粉丝",
        "kols": "涉及大V / 认证作者",
        "verified": "认证",
        "no_kols": "期间无大V或认证作者参与。",
        "authors": "发帖最多的作者",
        "sentiment": "情感",
        "share": "占比",
        "notable": "值得关注的帖子",
        "responses": "回应记录",
        "response_time": "首次预警 {a}，首次回应 {b}：用时 <b>{d}</b>。",
        "no_responses": "此期间未记录回应（sentinel response add 可补记）。",
        "window": "按回应前的走势外推“若不回应”的预期，与回应后的观测比较。",
        "fitted": "走势拟合 {a} 至 {b}，评估 {c} 至 {d}，每 {i} 一个计数。",
        "verdict_is": "结论：{v}",
        "mentions": "回应后提及回应的帖子：{m} / {n} 条。",
        "expected": "预期（原走势）",
        "v_effective": "有效：负面帖子低于原走势的预期",
        "v_no clear effect": "无明显效果",
        "v_higher than expected": "高于原走势的预期",
        "v_cannot tell": "无法判断",
        "v_not enough data": "数据不足",
        "v_too early": "为时尚早",
        "metric": "指标",
        "before": "回应前",
        "after": "回应后",
        "change": "观测 / 预期 [{level} 区间]",
        "verdict": "结论",
        "n": "样本（前/后）",
        "up": "↑ 高于预期",
        "down": "↓ 低于预期",
        "flat": "符合预期",
        "risk_row": "风险分（引擎，按时间加权）",
        "descriptive": "描述性",
        "fill_in": '尚未填写。用 sentinel review note {watch} --section {section} "……" 添加。',
        "posts_unit": "{n} 条",
        "kind_statement": "声明",
        "kind_apology": "道歉",
        "kind_recall": "召回",
        "kind_clarification": "澄清",
        "kind_other": "其他回应",
        "method_text": "回应效果：用回应前的走势（危机自身的衰减，高于危机前的水平）外推“若不回应”"
        "会怎样，再把回应后的观测值与这一预期相比，给出比值及其 90% 区间；只有负面帖子数的区间整体"
        "低于 1 时才判为“有效”，自然回落不会被当作回应的效果。风险分取自存储的预警事件，仅作描述。"
        "转发树按转发文本中引用的“//@用户”确定上一级。",
    },
    "en": {
        "title": "Crisis review",
        "range": "Range",
        "query": "Query",
        "no_query": "(watch not in config: posts from its alert events)",
        "generated": "generated",
        "posts": "posts",
        "negative_share": "negative share",
        "peak": "peak level",
        "alerts": "alerts",
        "first_response": "first response",
        "resolution": "resolution",
        "s1": "1. What happened",
        "s2": "2. How it spread",
        "s3": "3. Sentiment and topics",
        "s4": "4. Response and effect",
        "s5": "5. Causes, lessons and improvements",
        "method": "Method",
        "risk_chart": "Risk and alert level",
        "risk_caption": "Risk from the stored alert events; bands show the level; dashed lines are responses.",
        "risk_unit": "risk (0–100)",
        "volume_chart": "Volume against baseline",
        "volume_caption": "Posts per {bucket}; the baseline is the median of the previous 24 hours (or 7 days).",
        "volume_unit": "posts per {bucket}",
        "hour": "hour",
        "day": "day",
        "baseline": "baseline",
        "sentiment_chart": "Sentiment",
        "sentiment_caption": "Share of negative, neutral and positive posts per {bucket}.",
        "share_unit": "share",
        "topics_chart": "Crisis topics",
        "topics_caption": "Posts with a topic score ≥ 0.5.",
        "topics_unit": "posts",
        "none": "none",
        "time": "time",
        "what": "event",
        "level": "level",
        "risk": "risk",
        "detail": "detail",
        "ev_alert": "alert {event}",
        "ev_ack": "alert #{id} acknowledged",
        "ev_response": "response: {kind}",
        "ev_silence": "notifications silenced until {until}",
        "by": "{who}",
        "stories": "Main stories",
        "story": "post",
        "author": "author",
        "reposts_in_range": "reposts in range",
        "reposts_total": "reposts (total)",
        "negative": "negative",
        "first_seen": "first seen",
        "tree": "Repost tree (top levels; reposts below each in brackets)",
        "spreaders": "Key spreaders",
        "spreaders_note": "Reposts that were reposted most in turn.",
        "reposts_below": "reposts below",
        "followers": "followers",
        "kols": "KOLs and verified authors involved",
        "verified": "verified",
        "no_kols": "No KOL or verified author took part.",
        "authors": "Most active authors",
        "sentiment": "sentiment",
        "share": "share",
        "notable": "Notable posts",
        "responses": "Responses",
        "response_time": "First alert {a}, first response {b}: <b>{d}</b> to respond.",
        "no_responses": "No responses recorded in the range (sentinel response add records one).",
        "window": "The after window against what the course before the response projects for it.",
        "fitted": "Trend fitted {a} to {b}, judged {c} to {d}, counted per {i}.",
        "verdict_is": "Verdict: {v}",
        "mentions": "Posts mentioning the response after it: {m} of {n}.",
        "expected": "expected (trend)",
        "v_effective": "effective: fewer negative posts than the trend projects",
        "v_no clear effect": "no clear effect",
        "v_higher than expected": "higher than the trend projects",
        "v_cannot tell": "cannot tell",
        "v_not enough data": "not enough data",
        "v_too early": "too early",
        "metric": "metric",
        "before": "before",
        "after": "after",
        "change": "observed / expected [{level} CI]",
        "verdict": "verdict",
        "n": "n before / after",
        "up": "↑ higher than expected",
        "down": "↓ lower than expected",
        "flat": "as expected",
        "risk_row": "risk (engine, time-weighted)",
        "descriptive": "descriptive",
        "fill_in": 'Not written yet: sentinel review note {watch} --section {section} "…"',
        "posts_unit": "{n} posts",
        "kind_statement": "statement",
        "kind_apology": "apology",
        "kind_recall": "recall",
        "kind_clarification": "clarification",
        "kind_other": "other response",
        "method_text": "Each response is measured against a counterfactual: the course the crisis was on "
        "before it (its own decay, above the pre-crisis floor) projected over the after window. The "
        "observed / expected ratio comes with a 90% interval; a response is called effective only when "
        "the interval for negative posts lies wholly below 1, so natural decay is not sold as effect. "
        "Risk comes from the stored alert events (descriptive). A repost hangs under the post whose "
        'author it quotes ("//@name").',
    },
}
_EVENT = {
    "zh": {"opened": "开启", "escalated": "升级", "deescalated": "降级", "resolved": "解除"},
    "en": {
        "opened": "opened",
        "escalated": "escalated",
        "deescalated": "de-escalated",
        "resolved": "resolved",
    },
}
_LEVEL = {
    "zh": {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"},
    "en": {"blue": "blue", "yellow": "yellow", "orange": "orange", "red": "red"},
}
_SENTIMENT = {
    "zh": {"negative": "负面", "neutral": "中性", "positive": "正面"},
    "en": {"negative": "negative", "neutral": "neutral", "positive": "positive"},
}
_SECTION_EN = {"原因": "Causes", "得失": "What went well and badly", "改进": "Improvements"}
_METRIC_ZH = {
    "negative posts (posts/h)": "负面帖子（条/小时）",
    "volume (posts/h)": "声量（条/小时）",
    "negative share": "负面占比",
    "mean P(negative)": "平均负面概率",
    "main-story velocity (posts/h)": "主要传播链速度（条/小时）",
    "share mentioning the response": "提及回应的帖子占比",
}
# the effect evaluation's notes (sentinel.alerting.responses) in Chinese; one it does not
# know is shown as it is
_SPAN = r"([\d.]+) (s|min|h)"
_SPAN_ZH = {"s": "秒", "min": "分钟", "h": "小时"}
_NOTES_ZH = (
    (re.compile(rf"^judged over the first {_SPAN} after the response$"), "只评估回应后的前 {0} {1}"),
    (
        re.compile(rf"^too early: {_SPAN} of data after the response; the measure needs {_SPAN} .*$"),
        "为时尚早：回应后只有 {0} {1} 的数据，至少需要 {2} {3}",
    ),
    (
        re.compile(rf"^cannot tell: the posts peaked {_SPAN} before the response, .*$"),
        "无法判断：帖子在回应前 {0} {1} 才到峰值，太近，无法外推危机自身的走势",
    ),
    (
        re.compile(r"^not enough data: (\d+) posts in the fitted part of the before window \(need (\d+)\)$"),
        "数据不足：回应前用于拟合的部分只有 {0} 条帖子（至少需要 {1} 条）",
    ),
    (
        re.compile(
            r"^not enough data: fewer than (\d+) negative posts in the fitted part of the before window$"
        ),
        "数据不足：回应前用于拟合的部分负面帖子不足 {0} 条",
    ),
)


def _note_zh(note: str) -> str:
    for pattern, words in _NOTES_ZH:
        m = pattern.match(note)
        if m:
            return words.format(*(_SPAN_ZH.get(g, g) for g in m.groups()))
    return note


TREE_DEPTH = 3
TREE_WIDTH = 5


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where the report went."""

    html: Path
    markdown: Path
    json: Path
    charts: dict[str, Path]


class _Words:
    """The report's words and number formats in one language."""

    def __init__(self, data: ReportData, lang: str) -> None:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
        self.d, self.lang, self.t = data, lang, _T[lang]

    def __call__(self, key: str, **values: object) -> str:
        return self.t[key].format(**values) if values else self.t[key]

    def when(self, dt: datetime | None) -> str:
        return "—" if dt is None else dt.astimezone(self.d.tz).strftime("%Y-%m-%d %H:%M")

    def duration(self, td: timedelta | None) -> str:
        if td is None:
            return "—"
        minutes = round(td.total_seconds() / 60)
        days, rest = divmod(minutes, 1440)
        hours, mins = divmod(rest, 60)
        if self.lang == "zh":
            return (
                (f"{days} 天 " if days else "") + (f"{hours} 小时 " if hours or days else "") + f"{mins} 分钟"
            )
        return (f"{days} d " if days else "") + (f"{hours} h " if hours or days else "") + f"{mins} min"

    def level(self, level: str | None) -> str:
        return "—" if not level else _LEVEL[self.lang].get(level, level)

    def event(self, event: str) -> str:
        return _EVENT[self.lang].get(event, event)

    def kind(self, kind: str) -> str:
        return self.t.get(f"kind_{kind}", kind)

    def count(self, n: int) -> str:
        return self("posts_unit", n=f"{n:,}")

    def followers(self, n: int) -> str:
        return format_count(n, self.lang)

    def metric(self, name: str) -> str:
        return _METRIC_ZH.get(name, name) if self.lang == "zh" else name

    def topic(self, label: str) -> str:
        return topic_name(label, self.lang)

    def bucket(self) -> str:
        return self("hour") if self.d.buckets.size <= timedelta(hours=1) else self("day")


# -- formatting -----------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _value(c: Comparison, x: float | None) -> str:
    return _num(x) if c.kind == "ratio" else (_pct(x) if "share" in c.metric else _num(x, 3))


def _change(c: Comparison) -> str:
    if c.change is None or c.low is None or c.high is None:
        return "—"
    if c.kind == "ratio":
        return f"×{c.change:.2f} [{c.low:.2f}, {c.high:.2f}]"
    if "share" in c.metric:
        return f"{100 * c.change:+.1f} pp [{100 * c.low:+.1f}, {100 * c.high:+.1f}]"
    return f"{c.change:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"


def _p(c: Comparison) -> str:
    if c.p_value is None:
        return "—"
    return "<0.001" if c.p_value < 0.001 else f"{c.p_value:.3f}"


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def _m(text: object) -> str:
    # entities for markup that some renderers pass through as HTML; backslashes for the rest
    flat = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", flat)


# -- charts ---------------------------------------------------------------------------------------


def render_charts(data: ReportData, lang: str = "zh") -> dict[str, str]:
    """Every chart of the report as SVG markup, by file stem."""
    w = _Words(data, lang)
    b = data.buckets
    return {
        "risk": charts.risk_chart(
            data.events,
            data.since,
            data.until,
            data.responses,
            data.tz,
            title=f"{data.watch} · {w('risk_chart')}",
            unit=w("risk_unit"),
            level_names=_LEVEL[lang],
            lang=lang,
        ),
        "volume": charts.volume_chart(
            b,
            data.responses,
            data.tz,
            title=f"{data.watch} · {w('volume_chart')}",
            unit=w("volume_unit", bucket=w.bucket()),
            legend=(w("posts"), w("baseline")),
            lang=lang,
        ),
        "sentiment": charts.sentiment_chart(
            b,
            data.responses,
            data.tz,
            title=f"{data.watch} · {w('sentiment_chart')}",
            unit=w("share_unit"),
            names=_SENTIMENT[lang],
            lang=lang,
        ),
        "topics": charts.topics_chart(
            [(w.topic(k), v) for k, v in data.topics],
            title=f"{data.watch} · {w('topics_chart')}",
            unit=w("topics_unit"),
            empty=w("none"),
        ),
    }


# -- the timeline ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    at: datetime
    what: str
    level: str | None
    risk: float | None
    detail: str


def _timeline(w: _Words) -> list[_Row]:
    d = w.d
    rows = [
        _Row(
            e.at,
            w("ev_alert", event=w.event(e.event)),
            None if e.event == "resolved" else e.level,
            e.risk,
            "",
        )
        for e in d.events
        if e.at >= d.since
    ]
    for a in d.alerts:
        if a.acked_at and d.since <= a.acked_at < d.until:
            detail = " · ".join(x for x in (a.acked_by or "", a.ack_note or "") if x)
            rows.append(_Row(a.acked_at, w("ev_ack", id=a.id), None, None, detail))
    for r in d.responses:
        detail = " · ".join(x for x in (r.note or "", r.url or "") if x)
        rows.append(_Row(r.at, w("ev_response", kind=w.kind(r.kind)), None, None, detail))
    for s in d.silences:
        if d.since <= s.starts_at < d.until:
            rows.append(
                _Row(s.starts_at, w("ev_silence", until=w.when(s.ends_at)), None, None, s.reason or "")
            )
    rows.sort(key=lambda r: r.at)
    return rows


# -- HTML -----------------------------------------------------------------------------------------


def _table(head: list[str], rows: list[list[str]], numeric: Container[int] = ()) -> str:
    out = ["<table><thead><tr>", *(f"<th>{_h(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append(
            "<tr>"
            + "".join(
                f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
                for i, cell in enumerate(row)
            )
            + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _figure(svgs: dict[str, str], name: str, caption: str) -> str:
    return f"<figure>{svgs[name]}<figcaption>{_h(caption)}</figcaption></figure>"


def _level_html(w: _Words, level: str | None) -> str:
    if not level:
        return ""
    return f'<span class="level level-{_h(level)}">{_h(w.level(level))}</span>'


def _link(url: str | None, text: str) -> str:
    safe = safe_url(url)
    return f'<a href="{_h(safe)}" rel="noopener noreferrer">{_h(text)}</a>' if safe else _h(text)


def _verdict(w: _Words, c: Comparison) -> str:
    key = c.direction if c.direction in ("up", "down") else "flat"
    return f'<span class="{key}">{_h(w(key))}</span>'


def _level_of(effect: Effect) -> str:
    return next((f"{100 * (1 - c.alpha):.0f}%" for c in effect.comparisons), "90%")


def _effect_rows(w: _Words, effect: Effect) -> list[list[str]]:
    rows = [
        [
            _h(w.metric(c.metric)),
            _h(_value(c, c.before)),
            _h(_value(c, c.after)),
            _h(_value(c, c.expected)),
            _h(_change(c)),
            _h(_p(c)),
            _verdict(w, c),
        ]
        for c in effect.comparisons
    ]
    rows.append(
        [
            _h(w("risk_row")),
            _h(_num(effect.risk_before)),
            _h(_num(effect.risk_after)),
            "—",
            "—",
            "—",
            _h(w("descriptive")),
        ]
    )
    return rows


def _effect_notes(w: _Words, effect: Effect) -> list[str]:
    """The verdict, the windows the trend was fitted on and judged over, the mentions."""
    out = [w("verdict_is", v=w.t.get(f"v_{effect.verdict}", effect.verdict))]
    if effect.fitted is not None and effect.interval is not None:
        out.append(
            w(
                "fitted",
                a=w.when(effect.fitted[0]),
                b=w.when(effect.fitted[1]),
                c=w.when(effect.after[0]),
                d=w.when(effect.after[1]),
                i=w.duration(effect.interval),
            )
        )
    if effect.note:
        out.append(_note_zh(effect.note) if w.lang == "zh" else effect.note)
    if effect.mentions is not None:
        out.append(w("mentions", m=f"{effect.mentions:,}", n=f"{effect.posts_after:,}"))
    return out


def _tree_html(w: _Words, node: SpreadNode, depth: int) -> str:
    kids = node.children[:TREE_WIDTH]
    more = len(node.children) - len(kids)
    label = (
        f"@{_h(node.author)} · {_h(w('followers'))} {_h(w.followers(node.followers))} "
        f"· <b>{node.size - 1:,}</b> · {_h(_clip(node.text, 60))}"
    )
    if depth <= 0 or not kids:
        return f"<li>{label}</li>"
    inner = "".join(_tree_html(w, k, depth - 1) for k in kids)
    if more > 0:
        inner += f'<li class="note">… +{more:,}</li>'
    return f"<li>{label}<ul>{inner}</ul></li>"


def render_html(data: ReportData, svgs: dict[str, str], lang: str = "zh") -> str:
    d, w = data, _Words(data, lang)
    tzname = d.since.astimezone(d.tz).strftime("UTC%z")
    s: list[str] = []
    s.append(f"<h1>{_h(w('title'))} · {_h(d.watch)}</h1>")
    s.append(
        f'<p class="meta">{_h(w("range"))} {_h(w.when(d.since))} – {_h(w.when(d.until))} ({_h(tzname)}) · '
        f"{_h(w('query'))} <code>{_h(d.query or w('no_query'))}</code> · "
        f"{_h(w('generated'))} {_h(w.when(d.generated_at))}</p>"
    )
    fr = d.first_response
    cards = [
        (w("posts"), w.count(d.posts)),
        (w("negative_share"), _pct(d.share("negative"))),
        (w("peak"), f"{w.level(d.peak_level)} · {d.peak_risk:.0f}/100" if d.peak_level else "—"),
        (w("alerts"), f"{len(d.alerts):,}"),
        (w("first_response"), w.duration(fr[2]) if fr else "—"),
        (w("resolution"), w.duration(d.resolution)),
    ]
    s.append(
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_h(v)}</b><span>{_h(k)}</span></div>' for k, v in cards)
        + "</div>"
    )

    s.append(f'<h2 id="timeline">{_h(w("s1"))}</h2>')
    s.append(_figure(svgs, "risk", w("risk_caption")))
    s.append(
        _table(
            [w("time"), w("what"), w("level"), w("risk"), w("detail")],
            [
                [
                    _h(w.when(r.at)),
                    _h(r.what),
                    _level_html(w, r.level),
                    "" if r.risk is None else f"{r.risk:.0f}",
                    _h(_clip(r.detail, 200)),
                ]
                for r in _timeline(w)
            ],
            {3},
        )
    )

    s.append(f'<h2 id="spread">{_h(w("s2"))}</h2>')
    s.append(_figure(svgs, "volume", w("volume_caption", bucket=w.bucket())))
    s.append(f"<h3>{_h(w('stories'))}</h3>")
    s.append(
        _table(
            [
                w("story"),
                w("author"),
                w("reposts_in_range"),
                w("reposts_total"),
                w("negative"),
                w("first_seen"),
            ],
            [
                [
                    _link(st.url, _clip(st.text)),
                    _h(st.author),
                    f"{st.posts - 1:,}",
                    f"{st.reposts:,}",
                    _h(_pct(st.negative_share)),
                    _h(w.when(st.first_at)),
                ]
                for st in d.stories
            ],
            {2, 3, 4},
        )
    )
    trees = [st.tree for st in d.stories[:3] if st.tree is not None and st.tree.children]
    if trees:
        s.append(f"<h3>{_h(w('tree'))}</h3>")
        s += [f'<ul class="tree">{_tree_html(w, t, TREE_DEPTH)}</ul>' for t in trees]
    s.append(f'<h3>{_h(w("spreaders"))}</h3><p class="note">{_h(w("spreaders_note"))}</p>')
    s.append(
        _table(
            [w("author"), w("followers"), w("reposts_below"), w("story")],
            [
                [_h(n.author), _h(w.followers(n.followers)), f"{n.size - 1:,}", _h(_clip(n.text, 80))]
                for n in d.spreaders
            ],
            {1, 2},
        )
    )
    s.append(f"<h3>{_h(w('kols'))}</h3>")
    if d.kols:
        s.append(
            _table(
                [w("author"), w("followers"), w("verified"), w("posts"), w("negative")],
                [
                    [
                        _h(a.name),
                        _h(w.followers(a.followers)),
                        "✔" if a.verified else "",
                        f"{a.posts:,}",
                        _h(_pct(a.negative_share)),
                    ]
                    for a in d.kols
                ],
                {1, 3, 4},
            )
        )
    else:
        s.append(f'<p class="note">{_h(w("no_kols"))}</p>')
    s.append(f"<h3>{_h(w('authors'))}</h3>")
    s.append(
        _table(
            [w("author"), w("posts"), w("followers"), w("verified"), w("negative")],
            [
                [
                    _h(a.name),
                    f"{a.posts:,}",
                    _h(w.followers(a.followers)),
                    "✔" if a.verified else "",
                    _h(_pct(a.negative_share)),
                ]
                for a in d.authors
            ],
            {1, 2, 4},
        )
    )

    s.append(f'<h2 id="sentiment">{_h(w("s3"))}</h2>')
    s.append(_figure(svgs, "sentiment", w("sentiment_caption", bucket=w.bucket())))
    s.append(
        _table(
            [w("sentiment"), w("posts"), w("share")],
            [
                [_h(_SENTIMENT[lang][lbl]), _h(w.count(d.sentiment.get(lbl, 0))), _h(_pct(d.share(lbl)))]
                for lbl in ("negative", "neutral", "positive")
            ],
            {1, 2},
        )
    )
    s.append(_figure(svgs, "topics", w("topics_caption")))
    s.append(f"<h3>{_h(w('notable'))}</h3>")
    for sp in d.notable:
        p = sp.post
        who = p.author.name or p.author.id or "?"
        s.append(
            f'<div class="post"><div>{_h(_clip(p.text, 400))}</div><div class="note">@{_h(who)} · '
            f"{_h(w('followers'))} {_h(w.followers(p.author.followers))} · "
            f"{_h(w('reposts_total'))} {p.reposts:,} · P(neg) {sp.negative:.2f} · "
            f"{_h(w.when(p.created_at))} · {_link(p.url, 'link')}</div></div>"
        )

    s.append(f'<h2 id="response">{_h(w("s4"))}</h2>')
    if fr:
        s.append(
            "<p>"
            + w(
                "response_time",
                a=_h(w.when(fr[0])),
                b=_h(w.when(fr[1])),
                d=_h(w.duration(fr[2])),
            )
            + "</p>"
        )
    if not d.effects:
        s.append(f'<p class="note">{_h(w("no_responses"))}</p>')
    for effect in d.effects:
        r = effect.response
        s.append(f"<h3>{_h(w.kind(r.kind))} · {_h(w.when(r.at))}</h3>")
        if r.note or r.url:
            s.append(f"<p>{_h(r.note or '')} {_link(r.url, r.url or '')}</p>")
        said = _effect_notes(w, effect)
        s.append(f"<p><b>{_h(said[0])}</b></p>")
        s.append(f'<p class="note">{_h(w("window"))} {" ".join(_h(n) for n in said[1:])}</p>')
        if effect.comparisons:
            s.append(
                _table(
                    [
                        w("metric"),
                        w("before"),
                        w("after"),
                        w("expected"),
                        w("change", level=_level_of(effect)),
                        "p",
                        w("verdict"),
                    ],
                    _effect_rows(w, effect),
                    {1, 2, 3, 4, 5},
                )
            )

    s.append(f'<h2 id="review">{_h(w("s5"))}</h2>')
    for section in SECTIONS:
        heading = section if lang == "zh" else f"{_SECTION_EN[section]} ({section})"
        s.append(f'<h3 class="review-section">{_h(heading)}</h3>')
        notes = [n for n in d.notes if n.section == section]
        if not notes:
            s.append(f'<p class="note fill">{_h(w("fill_in", watch=d.watch, section=section))}</p>')
        for n in notes:
            s.append(
                f'<div class="review-note"><div>{_h(n.text)}</div>'
                f'<div class="note">{_h(n.by)} · {_h(w.when(n.at))}</div></div>'
            )

    s.append(f'<h2>{_h(w("method"))}</h2><p class="note">{_h(w("method_text"))}</p>')
    template = Template(
        (resources.files("sentinel") / "templates" / "report.html").read_text(encoding="utf-8")
    )
    return template.substitute(
        lang="zh-CN" if lang == "zh" else "en",
        title=_h(f"{w('title')} · {d.watch}"),
        body="\n".join(s),
    )


# -- Markdown -------------------------------------------------------------------------------------


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def _tree_md(w: _Words, node: SpreadNode, depth: int, indent: int = 0) -> list[str]:
    out = [
        "  " * indent
        + f"- @{_m(node.author)} ({w('followers')} {w.followers(node.followers)}) · **{node.size - 1:,}** · "
        + _m(_clip(node.text, 50))
    ]
    if depth > 0:
        for k in node.children[:TREE_WIDTH]:
            out += _tree_md(w, k, depth - 1, indent + 1)
    return out


def render_markdown(data: ReportData, chart_paths: dict[str, str], lang: str = "zh") -> str:
    d, w = data, _Words(data, lang)
    fr = d.first_response
    s = [
        f"# {w('title')} · {_m(d.watch)}",
        "",
        f"{w('range')} {w.when(d.since)} – {w.when(d.until)} · {w('query')} "
        f"`{(d.query or '').replace('`', '')}` · {w('generated')} {w.when(d.generated_at)}",
        "",
        f"- {w('posts')}: **{w.count(d.posts)}**; {w('negative_share')}: **{_pct(d.share('negative'))}**",
        f"- {w('peak')}: **{w.level(d.peak_level)}** ({d.peak_risk:.0f}/100); {w('alerts')}: {len(d.alerts):,}",
        f"- {w('first_response')}: **{w.duration(fr[2]) if fr else '—'}**; "
        f"{w('resolution')}: {w.duration(d.resolution)}",
        "",
        f"## {w('s1')}",
        "",
        f"![{w('risk_chart')}]({chart_paths['risk']})",
        "",
    ]
    s += _md_table(
        [w("time"), w("what"), w("level"), w("risk"), w("detail")],
        [
            [
                w.when(r.at),
                _m(r.what),
                w.level(r.level) if r.level else "",
                "" if r.risk is None else f"{r.risk:.0f}",
                _m(_clip(r.detail, 120)),
            ]
            for r in _timeline(w)
        ],
    )
    s += [
        f"## {w('s2')}",
        "",
        f"![{w('volume_chart')}]({chart_paths['volume']})",
        "",
        f"### {w('stories')}",
        "",
    ]
    s += _md_table(
        [w("story"), w("author"), w("reposts_in_range"), w("reposts_total"), w("negative")],
        [
            [
                _m(_clip(st.text, 80)),
                _m(st.author),
                f"{st.posts - 1:,}",
                f"{st.reposts:,}",
                _pct(st.negative_share),
            ]
            for st in d.stories
        ],
    )
    trees = [st.tree for st in d.stories[:3] if st.tree is not None and st.tree.children]
    if trees:
        s += [f"### {w('tree')}", ""]
        for t in trees:
            s += [*_tree_md(w, t, TREE_DEPTH), ""]
    s += [f"### {w('spreaders')}", ""]
    s += _md_table(
        [w("author"), w("followers"), w("reposts_below")],
        [[_m(n.author), w.followers(n.followers), f"{n.size - 1:,}"] for n in d.spreaders],
    )
    s += [f"### {w('kols')}", ""]
    s += (
        _md_table(
            [w("author"), w("followers"), w("posts"), w("negative")],
            [[_m(a.name), w.followers(a.followers), f"{a.posts:,}", _pct(a.negative_share)] for a in d.kols],
        )
        if d.kols
        else [w("no_kols"), ""]
    )
    s += [
        f"## {w('s3')}",
        "",
        f"![{w('sentiment_chart')}]({chart_paths['sentiment']})",
        "",
        f"![{w('topics_chart')}]({chart_paths['topics']})",
        "",
        f"### {w('notable')}",
        "",
    ]
    for sp in d.notable:
        s.append(
            f"- {_m(_clip(sp.post.text, 200))} — @{_m(sp.post.author.name or sp.post.author.id or '?')}, "
            f"{w('followers')} {w.followers(sp.post.author.followers)}, {w('reposts_total')} {sp.post.reposts:,}"
        )
    s += ["", f"## {w('s4')}", ""]
    if not d.effects:
        s += [w("no_responses"), ""]
    for effect in d.effects:
        r = effect.response
        s += [f"### {w.kind(r.kind)} · {w.when(r.at)}", "", _m(r.note or ""), ""]
        said = _effect_notes(w, effect)
        s += [f"**{_m(said[0])}**", "", *([f"_{_m(' '.join(said[1:]))}_", ""] if said[1:] else [])]
        if effect.comparisons:
            s += _md_table(
                [
                    w("metric"),
                    w("before"),
                    w("after"),
                    w("expected"),
                    w("change", level=_level_of(effect)),
                    "p",
                    w("verdict"),
                ],
                [
                    [
                        w.metric(c.metric),
                        _value(c, c.before),
                        _value(c, c.after),
                        _value(c, c.expected),
                        _change(c),
                        _p(c),
                        w(c.direction if c.direction in ("up", "down") else "flat"),
                    ]
                    for c in effect.comparisons
                ]
                + [
                    [
                        w("risk_row"),
                        _num(effect.risk_before),
                        _num(effect.risk_after),
                        "",
                        "",
                        "",
                        w("descriptive"),
                    ]
                ],
            )
    s += [f"## {w('s5')}", ""]
    for section in SECTIONS:
        s += [f"### {section if lang == 'zh' else _SECTION_EN[section]}", ""]
        notes = [n for n in d.notes if n.section == section]
        if not notes:
            s += [f"_{_m(w('fill_in', watch=d.watch, section=section))}_", ""]
        for n in notes:
            s += [_m(n.text), "", f"— {_m(n.by)}, {w.when(n.at)}", ""]
    return "\n".join(s) + "\n"


def write_report(data: ReportData, out_dir: Path, lang: str = "zh") -> ReportFiles:
    """Render everything into ``out_dir`` (created if needed)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    chart_dir = out_dir / "charts"
    chart_dir.mkdir(exist_ok=True)
    for old in chart_dir.glob("*.png"):  # a report written before charts were SVG
        old.unlink()
    svgs = render_charts(data, lang)
    paths: dict[str, Path] = {}
    for name, svg in svgs.items():
        paths[name] = chart_dir / f"{name}.svg"
        paths[name].write_text(svg, encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(data, svgs, lang), encoding="utf-8")
    md_path = out_dir / "report.md"
    md_path.write_text(
        render_markdown(data, {k: f"charts/{v.name}" for k, v in paths.items()}, lang), encoding="utf-8"
    )
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(data.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    return ReportFiles(html_path, md_path, json_path, paths)
