"""Chinese renders as Chinese in report charts, not as empty boxes."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

from sentinel.alerting.charts import style
from sentinel.alerting.fonts import CJK_PROBE, find_cjk_font, has_glyphs

TEXT = "艾克美危机"
MISSING = "\U0010fffd"  # a private-use code point no font maps: drawn as the .notdef box

FONT = find_cjk_font()
pytestmark = pytest.mark.skipif(
    FONT is None, reason="no CJK font installed (Debian: apt-get install fonts-noto-cjk)"
)


def _bitmap(path: str, text: str) -> np.ndarray:
    from matplotlib.ft2font import FT2Font

    font = FT2Font(path)
    font.set_size(48, 72)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the .notdef probe warns about its missing glyph, on purpose
        font.set_text(text)
    font.draw_glyphs_to_bitmap()
    return np.asarray(font.get_image()).copy()


def test_a_cjk_font_is_found_and_preferred() -> None:
    assert FONT is not None
    assert has_glyphs(FONT.path, CJK_PROBE + TEXT)
    if Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").exists():  # fonts-noto-cjk
        assert FONT.name == "Noto Sans CJK SC"


def test_glyphs_are_not_the_missing_glyph_box() -> None:
    assert FONT is not None
    box = _bitmap(FONT.path, MISSING)
    seen = []
    for ch in TEXT:
        glyph = _bitmap(FONT.path, ch)
        assert (glyph > 128).sum() > 200, ch  # real ink, not an empty cell
        assert glyph.shape != box.shape or not np.array_equal(glyph, box), ch
        assert all(glyph.shape != g.shape or not np.array_equal(glyph, g) for g in seen), ch
        seen.append(glyph)


def _render(text: str) -> np.ndarray:
    from matplotlib.figure import Figure

    with style():
        fig = Figure(figsize=(3, 1))
        fig.text(0.05, 0.3, text, fontsize=24)
        buf = io.BytesIO()
        fig.savefig(buf, format="rgba", dpi=100)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def test_charts_draw_chinese_without_missing_glyph_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" for tofu
        chinese = _render(TEXT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boxes = _render(MISSING * len(TEXT))
    blank = _render("")
    assert not np.array_equal(chinese, blank)
    assert not np.array_equal(chinese, boxes)
