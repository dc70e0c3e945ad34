"""The console's words, in Chinese (the default) and English, and its factor explanations."""

from __future__ import annotations

from typing import Any

__all__ = ["LANGS", "explain_factor", "words"]

LANGS = ("zh", "en")

_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "舆情哨兵",
        "overview": "总览",
        "alerts": "预警",
        "review": "复盘",
        "login": "登录",
        "logout": "退出",
        "username": "用户名",
        "password": "密码",
        "watch": "监测对象",
        "level": "级别",
        "risk": "风险",
        "risk_now": "当前风险",
        "volume": "声量",
        "negative_share": "负面占比",
        "share_of_voice": "声量份额",
        "last_24h": "近 24 小时",
        "last_7d": "近 7 天",
        "status": "状态",
        "open": "未处理",
        "acknowledged": "已确认",
        "resolved": "已解除",
        "all": "全部",
        "filter": "筛选",
        "peak": "峰值级别",
        "opened_at": "开始时间",
        "owner": "负责人",
        "none": "无",
        "timeline": "风险走势",
        "factors": "为什么预警",
        "stories": "主要话题",
        "spreaders": "关键传播者",
        "notable_posts": "值得关注的帖子",
        "audit": "操作记录",
        "actions": "处理",
        "acknowledge": "确认处理",
        "assign": "指派负责人",
        "silence": "静默此监测对象",
        "silence_for": "静默时长",
        "resolve": "解除预警",
        "record_response": "记录应对",
        "response_kind": "应对类型",
        "note": "备注",
        "link": "链接",
        "submit": "提交",
        "acked_by": "已由 {who} 确认处理",
        "no_alerts": "暂无预警",
        "viewer_note": "你是只读用户：可以查看，不能操作。",
        "period_from": "开始",
        "period_to": "结束",
        "show": "查看",
        "download": "下载 HTML",
        "followers": "粉丝",
        "kol": "大V",
        "reposts": "转发",
        "repost_tree": "转发链",
        "live": "实时更新中",
        "login_failed": "用户名或密码错误",
        "login_limited": "尝试次数过多，请稍后再试",
        "login_expired": "登录页已过期，请重试",
        "forbidden": "你的角色不能做这个操作",
        "posts_unit": "条",
        "event_opened": "开始",
        "event_escalated": "升级",
        "event_deescalated": "降级",
        "event_resolved": "解除",
        "blue": "蓝色",
        "yellow": "黄色",
        "orange": "橙色",
        "red": "红色",
        "quiet": "平稳",
    },
    "en": {
        "title": "Sentinel",
        "overview": "Overview",
        "alerts": "Alerts",
        "review": "Review",
        "login": "Sign in",
        "logout": "Sign out",
        "username": "User name",
        "password": "Password",
        "watch": "Watch",
        "level": "Level",
        "risk": "Risk",
        "risk_now": "Risk now",
        "volume": "Volume",
        "negative_share": "Negative share",
        "share_of_voice": "Share of voice",
        "last_24h": "Last 24 h",
        "last_7d": "Last 7 days",
        "status": "Status",
        "open": "Open",
        "acknowledged": "Acknowledged",
        "resolved": "Resolved",
        "all": "All",
        "filter": "Filter",
        "peak": "Peak level",
        "opened_at": "Opened",
        "owner": "Owner",
        "none": "none",
        "timeline": "Risk timeline",
        "factors": "Why it fired",
        "stories": "Top stories",
        "spreaders": "Key spreaders",
        "notable_posts": "Notable posts",
        "audit": "Audit trail",
        "actions": "Actions",
        "acknowledge": "Acknowledge",
        "assign": "Assign owner",
        "silence": "Silence this watch",
        "silence_for": "For",
        "resolve": "Resolve",
        "record_response": "Record a response",
        "response_kind": "Kind",
        "note": "Note",
        "link": "Link",
        "submit": "Submit",
        "acked_by": "Acknowledged by {who}",
        "no_alerts": "No alerts",
        "viewer_note": "You are a viewer: you can look, not change.",
        "period_from": "From",
        "period_to": "To",
        "show": "Show",
        "download": "Download HTML",
        "followers": "followers",
        "kol": "KOL",
        "reposts": "reposts",
        "repost_tree": "repost tree",
        "live": "live",
        "login_failed": "Wrong user name or password",
        "login_limited": "Too many attempts; try again later",
        "login_expired": "The sign-in page expired; try again",
        "forbidden": "Your role may not do that",
        "posts_unit": "posts",
        "event_opened": "opened",
        "event_escalated": "escalated",
        "event_deescalated": "de-escalated",
        "event_resolved": "resolved",
        "blue": "blue",
        "yellow": "yellow",
        "orange": "orange",
        "red": "red",
        "quiet": "quiet",
    },
}


def words(lang: str) -> dict[str, str]:
    return _WORDS[lang if lang in _WORDS else "zh"]


def _n(x: Any, digits: int = 1) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "?"
    return f"{v:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{v:.0f}"


def _pct(x: Any) -> str:
    try:
        return f"{100 * float(x):.0f}%"
    except (TypeError, ValueError):
        return "?"


def _times(value: Any, baseline: Any) -> str | None:
    try:
        v, b = float(value), float(baseline)
    except (TypeError, ValueError):
        return None
    return None if b <= 0 else f"{v / b:.1f}"


def explain_factor(name: str, f: dict[str, Any], lang: str = "zh") -> str | None:
    """One factor of an alert event in a plain sentence: what is unusual, against which baseline.

    None for a factor that did not move (no strength, no contribution) or one not known here.
    """
    if not isinstance(f, dict):
        return None
    value, base = f.get("value"), f.get("baseline")
    if not f.get("contribution") and not f.get("strength"):
        return None
    x = _times(value, base)
    zh = lang != "en"
    if name == "volume":
        if zh:
            s = f"短时间内出现负面帖子 {_n(value)} 条，平常同一时段约 {_n(base)} 条"
            return s + (f"，是平常的 {x} 倍。" if x else "。")
        s = f"{_n(value)} negative posts in the short window, against about {_n(base)} usually at this hour"
        return s + (f" ({x}×)." if x else ".")
    if name == "negative_share":
        if zh:
            return f"负面帖子占全部讨论的 {_pct(value)}，平常约 {_pct(base)}。"
        return f"Negative posts are {_pct(value)} of the talk, against about {_pct(base)} usually."
    if name == "velocity":
        if zh:
            return f"负面帖子在加速：每分钟新增约 {_n(value)} 条。"
        return f"Negative posts are speeding up: about {_n(value)} more per minute."
    if name == "spread":
        story = f.get("story") or {}
        posts, expected = story.get("posts", value), story.get("expected", base)
        serious = story.get("serious")
        asking = isinstance(serious, int) and not isinstance(serious, bool) and serious > 0
        if zh:
            s = f"单个话题被转发、跟帖 {_n(posts)} 次，按平常应在 {_n(expected)} 次左右：正在扩散。"
            return s + (
                f"已有 {serious} 条转发在问真假或表示震惊（如“真的假的”“求证”）：宜尽快澄清。"
                if asking
                else ""
            )
        s = f"One story drew {_n(posts)} reposts and replies, against about {_n(expected)} expected: it is spreading."
        return s + (
            f" {serious} of its reposts ask whether it is true or are alarmed: worth setting the facts straight soon."
            if asking
            else ""
        )
    if name == "reach":
        if zh:
            return f"负面内容可触达约 {_n(value, 0)} 名粉丝（发帖人粉丝数合计）。"
        return f"The negative posts reach about {_n(value, 0)} followers (their authors' together)."
    if name == "kol":
        if zh:
            return f"有 {_n(value, 0)} 位大V（高粉丝账号）发了负面内容。"
        return f"{_n(value, 0)} KOL(s) (accounts with many followers) posted negatively."
    if name == "topic":
        if zh:
            return f"讨论集中在危机类话题（如质量、安全、维权），强度 {_n(value, 2)}。"
        return f"The talk is about crisis topics (quality, safety, complaints), strength {_n(value, 2)}."
    return None
