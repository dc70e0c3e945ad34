"""Fixtures for the risk-engine tests."""

from __future__ import annotations

from datetime import datetime

import pytest
from risk_helpers import START


@pytest.fixture
def start() -> datetime:
    return START
