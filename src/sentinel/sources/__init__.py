"""Collectors, registered by ``type`` name. A new source is one module plus one line here."""

from __future__ import annotations

import importlib

from sentinel.config import ConfigError
from sentinel.sources.base import Source, SourceContext

__all__ = ["SOURCE_TYPES", "build_source"]

# type -> "module:factory"; imported lazily so an unused collector costs nothing
SOURCE_TYPES: dict[str, str] = {
    "file": "sentinel.sources.file:FileSource",
    "simulated": "sentinel.sources.simulated:SimulatedSource",
    "weibo": "sentinel.sources.weibo:WeiboSource",
    "wechat": "sentinel.sources.wechat:WechatSource",
    "rss": "sentinel.sources.rss:RssSource",
    "jsonfeed": "sentinel.sources.jsonfeed:JsonFeedSource",
    "mqtt": "sentinel.sources.mqtt:MqttSource",
}


def build_source(ctx: SourceContext) -> Source:
    """Construct the source ``ctx.config.type`` names; errors name the config key."""
    kind = ctx.config.type
    target = SOURCE_TYPES.get(kind)
    if target is None:
        raise ConfigError(f"source {ctx.name!r}: unknown type {kind!r} (one of {', '.join(SOURCE_TYPES)})")
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    try:
        source: Source = factory(ctx)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"source {ctx.name!r}: {exc}") from None
    return source
