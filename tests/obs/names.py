"""Series names sentinel exports, and the ``sentinel_*`` names a PromQL text refers to."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from sentinel.obs.metrics import Metrics

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}
_NAME = re.compile(r"\bsentinel_[a-zA-Z0-9_]+")


def families() -> dict[str, str]:
    """Family name -> type, for every metric ``Metrics`` defines (with or without samples)."""
    return {f.name: f.type for f in Metrics(CollectorRegistry()).registry.collect()}


def exported_series() -> set[str]:
    return {name + suffix for name, kind in families().items() for suffix in _SUFFIXES[kind]}


def referenced(promql: str) -> set[str]:
    return set(_NAME.findall(promql))


def family_of(series: str) -> str:
    for name, kind in families().items():
        if series in {name + s for s in _SUFFIXES[kind]}:
            return name
    raise KeyError(series)
