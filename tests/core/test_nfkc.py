"""``nfkc`` is exactly ``unicodedata.normalize("NFKC", ...)``, and ``fold`` keeps its meaning."""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

import pytest

from sentinel.nfkc import nfkc
from sentinel.risk.text import _t2s, fold

REPO = Path(__file__).resolve().parents[2]


def _reference_fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().translate(_t2s()[0])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "质量太差了，再也不买！！！",
        "ＡＣＭＥ　客服…",
        "ｶﾞｷﾞ",  # half-width katakana + half-width voiced mark: composes into ガギ
        "Ａ\u0301",  # full-width A + combining acute: composes into Á
        "\uff21\u0327\u0301",  # full-width A + two combining marks, reordered
        "\u1100\u1161\u11a8",  # Hangul jamo composing into one syllable
        "ﬁ ① ㈱ ㍿ ℡",  # compatibility characters outside the fast table
        "x" * 10_000,
    ],
)
def test_nfkc_equals_unicodedata_on_edge_cases(text: str) -> None:
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_nfkc_equals_unicodedata_on_random_mixtures() -> None:
    rng = random.Random(5)
    pool = [
        chr(c)
        for c in [
            *range(0x20, 0x180),
            *range(0x300, 0x370),  # combining marks
            *range(0x1100, 0x1200),  # Hangul jamo
            *range(0x2000, 0x2070),
            *range(0x3000, 0x3100),
            *range(0x4E00, 0x4E80),
            *range(0xAC00, 0xAC80),
            *range(0xFB00, 0xFB10),
            *range(0xFE30, 0xFE70),
            *range(0xFF00, 0xFFF0),  # the block the fast path maps
            0x2026,
            0x1D400,
        ]
    ]
    for _ in range(20_000):
        text = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 16)))
        assert nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)


def test_nfkc_and_fold_on_the_test_corpora() -> None:
    texts: list[str] = []
    for name in ("topics_eval.jsonl", "dup_pairs.jsonl"):
        for line in (REPO / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [row[k] for k in ("text", "a", "b") if k in row]
    texts += ["這個產品質量問題太嚴重了", "ＡＣＭＥ 漢堡 發霉…", "ACME Burger"]
    assert len(texts) > 300
    for text in texts:
        assert nfkc(text) == unicodedata.normalize("NFKC", text)
        assert fold(text) == _reference_fold(text)
    assert fold("這個產品質量問題") == "这个产品质量问题"
