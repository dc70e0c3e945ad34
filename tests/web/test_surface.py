"""The web package's public surface: every module says what it exports, and it exists."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "sentinel.web.asgi",
    "sentinel.web.auth",
    "sentinel.web.commands",
    "sentinel.web.console",
    "sentinel.web.i18n",
    "sentinel.web.server",
    "sentinel.web.views",
    "sentinel.store.users",
    "sentinel.store.activity",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr}"


def test_the_two_languages_have_the_same_words() -> None:
    from sentinel.web.i18n import words

    assert set(words("zh")) == set(words("en"))
    assert words("fr") == words("zh")  # an unknown language falls back to Chinese
