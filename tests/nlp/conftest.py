"""Fixtures for the NLP tests: the shipped model, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel.nlp.transformer import TransformerClassifier

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "models" / "default"


@pytest.fixture(scope="session")
def shipped() -> TransformerClassifier:
    return TransformerClassifier(MODEL_DIR, threads=2, quantize=True)


@pytest.fixture(scope="session")
def shipped_fp32() -> TransformerClassifier:
    return TransformerClassifier(MODEL_DIR, threads=2, quantize=False)
