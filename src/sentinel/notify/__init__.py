"""Notifiers, registered by ``type`` name. A new channel is one module plus one line here.

The :class:`~sentinel.notify.dispatcher.Dispatcher` sends alert events from the store's
outbox through the notifiers :func:`build_notifiers` makes from the ``[[notify]]`` sections.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from sentinel.clock import Clock
from sentinel.config import ConfigError, NotifyConfig
from sentinel.notify.base import Notifier, NotifyError, wants
from sentinel.obs.metrics import Metrics

__all__ = [
    "NOTIFIER_TYPES",
    "Notifier",
    "NotifyError",
    "build_notifier",
    "build_notifiers",
    "check_notifiers",
    "wants",
]

# type -> "module:Class"; imported lazily so an unused channel costs nothing
NOTIFIER_TYPES: dict[str, str] = {
    "console": "sentinel.notify.console:ConsoleNotifier",
    "slack": "sentinel.notify.slack:SlackNotifier",
    "dingtalk": "sentinel.notify.dingtalk:DingTalkNotifier",
    "feishu": "sentinel.notify.feishu:FeishuNotifier",
    "lark": "sentinel.notify.feishu:FeishuNotifier",
    "wecom": "sentinel.notify.wecom:WeComNotifier",
    "webhook": "sentinel.notify.webhook:GenericWebhookNotifier",
    "smtp": "sentinel.notify.smtp:SmtpNotifier",
}


def build_notifier(
    config: NotifyConfig, *, clock: Clock, metrics: Metrics, index: int | None = None
) -> Notifier:
    """Construct the notifier ``config.type`` names; errors name the ``[[notify]]`` entry."""
    where = f"notify[{index}] ({config.channel!r})" if index is not None else f"notify {config.channel!r}"
    target = NOTIFIER_TYPES.get(config.type)
    if target is None:
        raise ConfigError(f"{where}: unknown type {config.type!r} (one of {', '.join(NOTIFIER_TYPES)})")
    module_name, _, attr = target.partition(":")
    cls: Any = getattr(importlib.import_module(module_name), attr)
    try:
        notifier: Notifier = cls(config, clock=clock, metrics=metrics)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return notifier


def build_notifiers(configs: list[NotifyConfig], *, clock: Clock, metrics: Metrics) -> list[Notifier]:
    """One notifier per ``[[notify]]`` section, in config order."""
    return [build_notifier(c, clock=clock, metrics=metrics, index=i) for i, c in enumerate(configs)]


def check_notifiers(configs: list[NotifyConfig]) -> list[str]:
    """Every problem in the ``[[notify]]`` sections (types, options, URLs, templates), for
    ``sentinel check``; builds each notifier and closes it again, sending nothing."""
    from sentinel.clock import SystemClock

    problems: list[str] = []
    for i, config in enumerate(configs):
        try:
            notifier = build_notifier(config, clock=SystemClock(), metrics=Metrics(), index=i)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        asyncio.run(notifier.close())
    return problems
