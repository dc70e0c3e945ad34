"""Write a :class:`~sentinel.alerting.report.ReportData` as HTML, Markdown and JSON.

* ``report.html`` — one self-contained file: charts are embedded as base64 PNG, no script,
  no network (its Content-Security-Policy allows only inline styles and ``data:`` images),
  so it can be mailed or archived as it is;
* ``report.md`` with its charts in ``charts/*.png`` next to it;
* ``report.json`` — the numbers, for other tools.

All post text is untrusted: it is escaped for HTML and Markdown, and only http(s) links
are made clickable.
"""

from __future__ import annotations

import base64
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
from sentinel.alerting.fonts import find_cjk_font
from sentinel.alerting.report import ReportData
from sentinel.alerting.responses import Effect
from sentinel.alerting.stats import Comparison
from sentinel.notify.sanitize import safe_url

__all__ = ["ReportFiles", "render_charts", "render_html", "render_markdown", "write_report"]

_EVENT_ZH = {"opened": "新预警", "escalated": "升级", "deescalated": "降级", "resolved": "解除"}
_LEVEL_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where the report went."""

    html: Path
    markdown: Path
    json: Path
    charts: dict[str, Path]


# -- formatting -----------------------------------------------------------------------------------


def _when(data: ReportData, dt: datetime | None) -> str:
    return "—" if dt is None else dt.astimezone(data.tz).strftime("%Y-%m-%d %H:%M")


def _duration(td: timedelta | None) -> str:
    if td is None:
        return "—"
    minutes = int(td.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return (f"{days} d " if days else "") + f"{hours} h {mins:02d} min"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


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


def _verdict(c: Comparison) -> str:
    return {"up": "↑ up", "down": "↓ down"}.get(c.direction, "no clear change")


def _safe_url(url: str | None) -> str | None:
    # only http(s), never with user:password@ (a phishing look-alike or a leaked credential)
    return safe_url(url)


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


def render_charts(data: ReportData) -> dict[str, bytes]:
    """Every chart of the report, by file stem."""
    b = data.buckets
    out = {
        "risk": charts.risk_chart(
            data.events,
            data.since,
            data.until,
            data.responses,
            data.tz,
            f"{data.watch} · 风险与预警级别 risk and level",
        ),
        "volume": charts.volume_chart(
            b, data.responses, data.tz, f"{data.watch} · 声量与基线 volume vs baseline"
        ),
        "sentiment": charts.sentiment_chart(b, data.responses, data.tz, f"{data.watch} · 情感占比 sentiment"),
        "topics": charts.topics_chart(data.topics, f"{data.watch} · 危机话题 topics"),
    }
    for effect in data.effects:
        if effect.comparisons:
            r = effect.response
            out[f"effect-{r.id}"] = charts.effect_chart(
                effect, f"{charts.KIND_NAMES.get(r.kind, r.kind)} {_when(data, r.at)} · before / after"
            )
    return out


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


def _img(pngs: dict[str, bytes], name: str, caption: str) -> str:
    data = base64.b64encode(pngs[name]).decode("ascii")
    return (
        f'<figure><img id="chart-{_h(name)}" class="chart" alt="{_h(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{_h(caption)}</figcaption></figure>'
    )


def _level(level: str | None) -> str:
    if not level:
        return "—"
    return f'<span class="level level-{_h(level)}">{_h(_LEVEL_ZH.get(level, level))} {_h(level)}</span>'


def _link(url: str | None, text: str) -> str:
    safe = _safe_url(url)
    return f'<a href="{_h(safe)}" rel="noopener noreferrer">{_h(text)}</a>' if safe else _h(text)


def _effect_rows(effect: Effect) -> list[list[str]]:
    rows = [
        [
            _h(c.metric),
            _h(_value(c, c.before)),
            _h(_value(c, c.after)),
            _h(_change(c)),
            _h(_p(c)),
            f'<span class="{ {"up": "up", "down": "down"}.get(c.direction, "flat") }">{_h(_verdict(c))}</span>',
            f"{c.n_before} / {c.n_after}",
        ]
        for c in effect.comparisons
    ]
    rows.append(
        [
            "risk (engine, time-weighted)",
            _h(_num(effect.risk_before)),
            _h(_num(effect.risk_after)),
            _h(
                _num(
                    None
                    if effect.risk_after is None or effect.risk_before is None
                    else effect.risk_after - effect.risk_before
                )
            ),
            "—",
            "descriptive",
            "—",
        ]
    )
    return rows


def render_html(data: ReportData, pngs: dict[str, bytes]) -> str:
    d = data
    tzname = d.since.astimezone(d.tz).strftime("UTC%z")
    s: list[str] = []
    s.append(f"<h1>舆情复盘报告 · {_h(d.watch)}</h1>")
    s.append(
        f'<p class="meta">{_h(_when(d, d.since))} – {_h(_when(d, d.until))} ({_h(tzname)}) · '
        f"query <code>{_h(d.query or '(watch not in config: posts from its alert events)')}</code> · "
        f"generated {_h(_when(d, d.generated_at))}</p>"
    )
    if find_cjk_font() is None:
        s.append('<p class="note">No CJK font was found for the charts: install fonts-noto-cjk.</p>')
    fr = d.first_response
    cards = [
        ("posts 帖子", str(d.posts)),
        ("negative 负面", _pct(d.share("negative"))),
        ("peak 最高级别", f"{_LEVEL_ZH.get(d.peak_level or '', '—')} {d.peak_risk:.0f}"),
        ("alerts 预警", str(len(d.alerts))),
        ("first response 首次回应", _duration(fr[2]) if fr else "—"),
        ("resolution 解除用时", _duration(d.resolution)),
    ]
    s.append(
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_h(v)}</b><span>{_h(k)}</span></div>' for k, v in cards)
        + "</div>"
    )

    s.append("<h2>风险与级别 Risk and levels</h2>")
    s.append(
        _img(
            pngs,
            "risk",
            "Risk score from the stored alert events; bands show the alert level; dashed lines are responses.",
        )
    )
    s.append(
        _table(
            ["time", "event", "level", "risk"],
            [
                [
                    _h(_when(d, e.at)),
                    _h(f"{_EVENT_ZH.get(e.event, e.event)} {e.event}"),
                    _level(e.level),
                    f"{e.risk:.0f}",
                ]
                for e in d.events
            ],
            {3},
        )
    )

    s.append("<h2>声量 Volume against baseline</h2>")
    s.append(
        _img(
            pngs,
            "volume",
            "Posts per bucket; the baseline is the median of the previous 24 hourly (or 7 daily) buckets.",
        )
    )

    s.append("<h2>情感 Sentiment</h2>")
    s.append(_img(pngs, "sentiment", "Share of negative / neutral / positive posts per bucket."))
    s.append(
        _table(
            ["sentiment", "posts", "share"],
            [
                [_h(lbl), str(d.sentiment.get(lbl, 0)), _h(_pct(d.share(lbl)))]
                for lbl in ("negative", "neutral", "positive")
            ],
            {1, 2},
        )
    )

    s.append("<h2>话题 Topics</h2>")
    s.append(_img(pngs, "topics", "Posts per crisis topic (topic score ≥ 0.5)."))

    s.append("<h2>主要事件 Top stories</h2>")
    s.append(
        _table(
            ["story", "author", "posts", "reposts", "negative", "first seen"],
            [
                [
                    _link(st.url, _clip(st.text)),
                    _h(st.author),
                    str(st.posts),
                    str(st.reposts),
                    _h(_pct(st.negative_share)),
                    _h(_when(d, st.first_at)),
                ]
                for st in d.stories
            ],
            {2, 3, 4},
        )
    )

    s.append("<h2>主要作者 Top authors</h2>")
    s.append(
        _table(
            ["author", "posts", "followers", "verified", "negative"],
            [
                [
                    _h(a.name),
                    str(a.posts),
                    str(a.followers),
                    "✔" if a.verified else "",
                    _h(_pct(a.negative_share)),
                ]
                for a in d.authors
            ],
            {1, 2, 4},
        )
    )

    s.append("<h2>预警与确认 Alerts and acknowledgements</h2>")
    s.append(
        _table(
            ["#", "opened", "level", "risk", "status", "resolved", "acknowledged by", "acked at", "note"],
            [
                [
                    str(a.id),
                    _h(_when(d, a.opened_at)),
                    _level(a.level),
                    f"{a.risk:.0f}",
                    _h(a.status),
                    _h(_when(d, a.resolved_at)),
                    _h(a.acked_by or "—"),
                    _h(_when(d, a.acked_at)),
                    _h(a.ack_note or ""),
                ]
                for a in d.alerts
            ],
            {0, 3},
        )
    )
    if d.silences:
        s.append(
            _table(
                ["silenced from", "until", "by", "reason"],
                [
                    [
                        _h(_when(d, x.starts_at)),
                        _h(_when(d, x.ends_at)),
                        _h(x.created_by or ""),
                        _h(x.reason or ""),
                    ]
                    for x in d.silences
                ],
            )
        )

    s.append("<h2>回应与效果 Responses and measured effect</h2>")
    if fr:
        s.append(
            f"<p>First alert {_h(_when(d, fr[0]))}, first response {_h(_when(d, fr[1]))}: "
            f"<b>{_h(_duration(fr[2]))}</b> to respond.</p>"
        )
    if not d.effects:
        s.append('<p class="note">No responses recorded for this watch in the range.</p>')
    for effect in d.effects:
        r = effect.response
        s.append(f"<h3>{_h(charts.KIND_NAMES.get(r.kind, r.kind))} {_h(r.kind)} · {_h(_when(d, r.at))}</h3>")
        if r.note or r.url:
            s.append(f"<p>{_h(r.note or '')} {_link(r.url, r.url or '')}</p>")
        s.append(
            f'<p class="note">Windows of {_h(_duration(effect.window))} before and after. '
            f"{_h(effect.note or '')}</p>"
        )
        if effect.comparisons:
            s.append(
                _table(
                    ["metric", "before", "after", "change [95% CI]", "p", "verdict", "n before / after"],
                    _effect_rows(effect),
                    {1, 2, 3, 4, 6},
                )
            )
            name = f"effect-{r.id}"
            if name in pngs:
                s.append(_img(pngs, name, "Before / after the response."))

    s.append("<h2>值得关注的帖子 Notable posts</h2>")
    for sp in d.notable:
        p = sp.post
        who = p.author.name or p.author.id or "?"
        s.append(
            f'<div class="post"><div>{_h(_clip(p.text, 400))}</div><div class="note">@{_h(who)} · '
            f"{p.author.followers} followers · {p.reposts} reposts · P(neg) {sp.negative:.2f} · "
            f"{_h(_when(d, p.created_at))} · {_link(p.url, 'link')}</div></div>"
        )
    s.append(
        '<h2>方法 Method</h2><p class="note">Effects compare equal windows before and after each '
        "response; a change is called only when its 95% interval excludes no change (rates: Poisson "
        "rate ratio with an exact conditional test; shares: two-proportion z-test with Newcombe "
        "interval; mean negativity: bootstrap). Risk comes from the stored alert events.</p>"
    )
    template = Template(
        (resources.files("sentinel") / "templates" / "report.html").read_text(encoding="utf-8")
    )
    return template.substitute(title=_h(f"舆情复盘报告 · {d.watch}"), body="\n".join(s))


# -- Markdown -------------------------------------------------------------------------------------


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def render_markdown(data: ReportData, chart_paths: dict[str, str]) -> str:
    d = data
    fr = d.first_response
    s = [
        f"# 舆情复盘报告 · {_m(d.watch)}",
        "",
        f"{_when(d, d.since)} – {_when(d, d.until)} · query `{(d.query or '').replace('`', '')}` · "
        f"generated {_when(d, d.generated_at)}",
        "",
    ]
    s += [
        f"- posts: **{d.posts}**, negative share **{_pct(d.share('negative'))}**",
        f"- peak level: **{d.peak_level or '—'}** (risk {d.peak_risk:.0f}); alerts: {len(d.alerts)}",
        f"- first alert to first response: **{_duration(fr[2]) if fr else '—'}**; "
        f"resolution: {_duration(d.resolution)}",
        "",
    ]
    for name, title in (
        ("risk", "Risk and levels"),
        ("volume", "Volume against baseline"),
        ("sentiment", "Sentiment"),
        ("topics", "Topics"),
    ):
        s += [f"## {title}", "", f"![{title}]({chart_paths[name]})", ""]
    s += ["## Top stories", ""]
    s += _md_table(
        ["story", "author", "posts", "reposts", "negative"],
        [
            [_m(_clip(st.text, 80)), _m(st.author), str(st.posts), str(st.reposts), _pct(st.negative_share)]
            for st in d.stories
        ],
    )
    s += ["## Top authors", ""]
    s += _md_table(
        ["author", "posts", "followers", "negative"],
        [[_m(a.name), str(a.posts), str(a.followers), _pct(a.negative_share)] for a in d.authors],
    )
    s += ["## Alerts and acknowledgements", ""]
    s += _md_table(
        ["#", "opened", "level", "status", "resolved", "acknowledged by", "note"],
        [
            [
                str(a.id),
                _when(d, a.opened_at),
                a.level,
                a.status,
                _when(d, a.resolved_at),
                _m(a.acked_by or "—"),
                _m(a.ack_note or ""),
            ]
            for a in d.alerts
        ],
    )
    s += ["## Responses and measured effect", ""]
    for effect in d.effects:
        r = effect.response
        s += [f"### {r.kind} · {_when(d, r.at)}", "", _m(r.note or ""), ""]
        if effect.note:
            s += [f"_{_m(effect.note)}_", ""]
        if effect.comparisons:
            s += _md_table(
                ["metric", "before", "after", "change [95% CI]", "p", "verdict"],
                [
                    [c.metric, _value(c, c.before), _value(c, c.after), _change(c), _p(c), _verdict(c)]
                    for c in effect.comparisons
                ]
                + [
                    [
                        "risk (engine)",
                        _num(effect.risk_before),
                        _num(effect.risk_after),
                        "",
                        "",
                        "descriptive",
                    ]
                ],
            )
            name = f"effect-{r.id}"
            if name in chart_paths:
                s += [f"![effect]({chart_paths[name]})", ""]
    s += ["## Notable posts", ""]
    for sp in d.notable:
        s.append(
            f"- {_m(_clip(sp.post.text, 200))} — @{_m(sp.post.author.name or sp.post.author.id or '?')}, "
            f"{sp.post.author.followers} followers, {sp.post.reposts} reposts"
        )
    return "\n".join(s) + "\n"


def write_report(data: ReportData, out_dir: Path) -> ReportFiles:
    """Render everything into ``out_dir`` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chart_dir = out_dir / "charts"
    chart_dir.mkdir(exist_ok=True)
    pngs = render_charts(data)
    paths: dict[str, Path] = {}
    for name, blob in pngs.items():
        paths[name] = chart_dir / f"{name}.png"
        paths[name].write_bytes(blob)
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(data, pngs), encoding="utf-8")
    md_path = out_dir / "report.md"
    md_path.write_text(
        render_markdown(data, {k: f"charts/{v.name}" for k, v in paths.items()}), encoding="utf-8"
    )
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(data.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    return ReportFiles(html_path, md_path, json_path, paths)
