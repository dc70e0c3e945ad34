"""The public surface of sentinel.notify: every name in ``__all__`` exists, every
registered channel class builds from the same signature."""

from __future__ import annotations

import importlib
import inspect

import pytest

from sentinel.notify import NOTIFIER_TYPES

MODULES = [
    "sentinel.notify",
    "sentinel.notify.base",
    "sentinel.notify.commands",
    "sentinel.notify.console",
    "sentinel.notify.dingtalk",
    "sentinel.notify.dispatcher",
    "sentinel.notify.feishu",
    "sentinel.notify.http",
    "sentinel.notify.markdown",
    "sentinel.notify.message",
    "sentinel.notify.ratelimit",
    "sentinel.notify.sanitize",
    "sentinel.notify.slack",
    "sentinel.notify.webhook",
    "sentinel.notify.wecom",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr}"


@pytest.mark.parametrize("kind", sorted(NOTIFIER_TYPES))
def test_every_channel_class_has_the_same_constructor(kind: str) -> None:
    module_name, _, attr = NOTIFIER_TYPES[kind].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    params = inspect.signature(cls).parameters
    assert list(params)[:1] == ["config"]
    assert params["clock"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["metrics"].kind is inspect.Parameter.KEYWORD_ONLY
    assert callable(cls.send) and callable(cls.close)
