"""NFKC normalisation, fast for Chinese posts.

``unicodedata.normalize("NFKC", text)`` costs 6-15 µs on a 60-character Weibo post (the
range is this shared machine's load) as soon as the post holds one full-width character
(，！？ are in most of them): the whole string is then decomposed and recomposed. Every post is normalised up to three times (query
folding, the classifier's tokenizer, the topic seed matcher).

:func:`nfkc` first maps the full-width forms, the ideographic space and the ellipsis to
their NFKC images, then asks ``unicodedata.is_normalized`` (a quick check, ~0.1 µs) and
only falls back to the full normalisation for what is still not NFKC. The result is always
exactly ``unicodedata.normalize("NFKC", text)``: replacing a character by its own NFKC image
leaves the string's compatibility decomposition, and so its NFKC form, unchanged.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["nfkc"]

# The ideographic space, the horizontal ellipsis (in 6 % of Weibo posts) and the Halfwidth
# and Fullwidth Forms block; a regular expression finds them faster than str.translate.
_FULL_WIDTH = {
    chr(cp): image
    for cp in (0x2026, 0x3000, *range(0xFF00, 0xFFF0))
    if (image := unicodedata.normalize("NFKC", chr(cp))) != chr(cp)
}
_FULL_WIDTH_RE = re.compile("[" + "".join(sorted(_FULL_WIDTH)) + "]")


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster on typical Weibo posts (2.3 vs 5.9 µs a
    post measured side by side on 4,096 posts of the shared Weibo corpus)."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    text = _FULL_WIDTH_RE.sub(lambda m: _FULL_WIDTH[m.group()], text)
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)
