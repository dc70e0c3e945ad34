"""A small sample of the fuzz targets in :mod:`fuzzing` (bench/fuzz.py runs 10^5+ inputs).

Each property: only the component's own error class escapes, what is accepted is usable,
and the HTTP API never answers 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from .fuzzing import TARGETS, ApiServer, Target, api_server, make_check

EXAMPLES = {"backtest_lines": 40, "backtest_run": 25, "config": 60, "http_requests": 80, "http_bytes": 60}


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with api_server() as s:
        yield s


def _run(target: Target, server: ApiServer | None) -> None:
    check = make_check(target, server)

    @settings(
        max_examples=EXAMPLES.get(target.name, 150),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(target.strategy)
    def prop(value: Any) -> None:
        check(value)

    prop()


@pytest.mark.parametrize("target", [t for t in TARGETS if not t.needs_server], ids=lambda t: t.name)
def test_fuzz(target: Target) -> None:
    _run(target, None)


@pytest.mark.parametrize("target", [t for t in TARGETS if t.needs_server], ids=lambda t: t.name)
def test_fuzz_http(target: Target, server: ApiServer) -> None:
    _run(target, server)
