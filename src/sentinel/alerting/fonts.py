"""A CJK-capable font for report charts, found through matplotlib's font manager.

Chinese post text and topic names appear in chart labels; with matplotlib's default
DejaVu Sans they would render as empty boxes ("tofu"). The Debian package
``fonts-noto-cjk`` is preferred; any other installed font that has the glyphs will do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CJK_PROBE", "CjkFont", "find_cjk_font", "has_glyphs"]

# Characters every report shows somewhere (the brand, "crisis", sentiment words).
CJK_PROBE = "艾克美危机负面舆情"

# In order of preference: Simplified Chinese first, then the other Noto CJK faces and the
# common fallbacks of other distributions.
_PREFERRED = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)


@dataclass(frozen=True, slots=True)
class CjkFont:
    """A font family matplotlib knows by ``name``, stored at ``path``, that has CJK glyphs."""

    name: str
    path: str


def has_glyphs(path: str, text: str = CJK_PROBE) -> bool:
    """Whether the font file maps every character of ``text`` to a real glyph (not .notdef)."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in text if not ch.isspace())


@lru_cache(maxsize=1)
def find_cjk_font() -> CjkFont | None:
    """The best installed CJK font, or ``None`` when there is none (charts then say so)."""
    from matplotlib import font_manager

    entries = font_manager.fontManager.ttflist
    by_name: dict[str, list[str]] = {}
    for entry in entries:
        by_name.setdefault(entry.name, []).append(entry.fname)
    candidates = [name for name in _PREFERRED if name in by_name]
    # anything else whose name says CJK / Chinese, then every remaining font as a last resort
    candidates += sorted(n for n in by_name if n not in candidates and _looks_cjk(n))
    for name in candidates:
        for path in sorted(by_name[name], key=_regular_first):
            if has_glyphs(path):
                return CjkFont(name, path)
    for name, paths in sorted(by_name.items()):
        for path in paths:
            if has_glyphs(path):
                return CjkFont(name, path)
    return None


def _looks_cjk(name: str) -> bool:
    low = name.lower()
    return any(word in low for word in ("cjk", " sc", "hei", "song", "kai", "ming", "chinese", "han "))


def _regular_first(path: str) -> tuple[int, str]:
    return (0 if "regular" in path.lower() else 1, path)
