"""Risk engine: watches (boolean queries), stories, indicators, risk score and alert levels.

``build_risk_engine(config)`` is what the daemon and ``sentinel backtest`` call; see
docs/risk.md for the formula, the options and their defaults.
"""

from __future__ import annotations

from sentinel.config import Config
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import EVENTS, AlertEvent, RiskEngine
from sentinel.risk.engine import Engine, Silence
from sentinel.risk.options import EngineOptions, WatchOptions, engine_options, watch_options
from sentinel.risk.query import Query, QueryError, parse_query

__all__ = [
    "EVENTS",
    "AlertEvent",
    "Engine",
    "EngineOptions",
    "Query",
    "QueryError",
    "RiskEngine",
    "Silence",
    "WatchOptions",
    "build_risk_engine",
    "engine_options",
    "parse_query",
    "watch_options",
]


def build_risk_engine(config: Config, metrics: Metrics | None = None) -> Engine:
    """The engine for ``config.watches`` tuned by ``config.risk``; ValueError names a bad key."""
    from sentinel.store.membership import OwnPostsNeutral  # a watch's own accounts are not evidence

    return OwnPostsNeutral(list(config.watches), engine_options(config.risk), metrics=metrics)
