"""Crisis-topic severities (from ``config/taxonomy.yaml`` when present) and a seed fallback.

The classifier sends ``ScoredPost.topics`` ({topic id: score}); a post's severity is the
largest ``score x severity`` over topics scoring at least the threshold. A classifier that
sends no topics (the lexicon) gets the taxonomy's seed terms matched as substrings instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sentinel.risk.text import fold

__all__ = ["DEFAULT_SEVERITY", "TopicSeverity", "load_topic_severity"]

DEFAULT_SEVERITY: dict[str, float] = {
    "product_quality": 0.5,
    "product_safety": 0.9,
    "service_failure": 0.5,
    "data_privacy": 0.8,
    "false_advertising_fraud": 0.8,
    "legal_regulatory": 0.8,
    "labour_executive": 0.7,
    "logistics_delivery": 0.3,
    "pricing_refund": 0.5,
    "rumour": 0.6,
    "boycott": 0.9,
}
_DEFAULT_SEEDS: dict[str, tuple[str, ...]] = {
    "product_safety": (
        "食品安全",
        "变质",
        "发霉",
        "异物",
        "拉肚子",
        "食物中毒",
        "中毒",
        "有毒",
        "致癌",
        "超标",
        "爆炸",
        "自燃",
        "起火",
        "召回",
        "安全隐患",
    ),
    "boycott": ("抵制", "再也不买", "拒买", "大家别买", "千万别买", "不要买"),
    "rumour": ("谣言", "辟谣", "网传", "真的假的", "爆料"),
    "legal_regulatory": ("起诉", "罚款", "立案", "调查", "市场监管", "消协", "维权", "报警", "12315"),
    "false_advertising_fraud": ("假货", "虚假宣传", "欺诈", "骗人", "被骗"),
    "data_privacy": ("泄露", "个人信息", "隐私", "骚扰电话"),
    "product_quality": ("质量问题", "质量差", "坏了", "故障", "劣质", "次品"),
    "service_failure": ("客服", "态度差", "售后", "投诉", "敷衍"),
}


@dataclass(frozen=True, slots=True)
class TopicSeverity:
    """Severity weights per topic id, and seed terms for classifiers without topics."""

    severity: dict[str, float]
    seeds: dict[str, tuple[str, ...]]
    default: float = 0.5
    _seed_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _seed_sev: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # one alternation over every seed: a single C-level scan per post, not one per seed
        sev: dict[str, float] = {}
        for label, seeds in self.seeds.items():
            for seed in seeds:
                sev[seed] = max(sev.get(seed, 0.0), self.severity.get(label, self.default))
        object.__setattr__(self, "_seed_sev", sev)
        if sev:
            alternation = "|".join(re.escape(x) for x in sorted(sev, key=len, reverse=True))
            object.__setattr__(self, "_seed_re", re.compile(alternation))

    def of_scores(self, topics: dict[str, float], threshold: float) -> float:
        best = 0.0
        for label, score in topics.items():
            if score >= threshold:
                best = max(best, score * self.severity.get(label, self.default))
        return best

    def of_text(self, folded: str) -> float:
        """The highest severity among topics whose seed terms occur in ``folded``."""
        if self._seed_re is None:
            return 0.0
        sev = self._seed_sev
        return max((sev[m] for m in self._seed_re.findall(folded)), default=0.0)


def _from_yaml(data: Any) -> TopicSeverity | None:
    if not isinstance(data, dict) or not isinstance(data.get("topics"), list):
        return None
    severity: dict[str, float] = {}
    seeds: dict[str, tuple[str, ...]] = {}
    for entry in data["topics"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        sev = entry.get("severity", 0.5)
        if isinstance(sev, int | float) and not isinstance(sev, bool):
            severity[entry["id"]] = min(max(float(sev), 0.0), 1.0)
        raw = entry.get("seeds") or []
        if isinstance(raw, list):
            seeds[entry["id"]] = tuple(fold(str(s)) for s in raw if str(s).strip())
    return TopicSeverity(severity, seeds) if severity else None


def load_topic_severity(path: str | Path | None) -> TopicSeverity:
    """The taxonomy's severities if ``path`` exists and parses, else the built-in defaults."""
    if path is not None:
        p = Path(path)
        if p.is_file():
            try:
                loaded = _from_yaml(yaml.safe_load(p.read_text(encoding="utf-8")))
            except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"{p}: cannot read the taxonomy: {exc}") from None
            if loaded is not None:
                return loaded
    return TopicSeverity(dict(DEFAULT_SEVERITY), dict(_DEFAULT_SEEDS))
