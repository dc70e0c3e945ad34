"""A repost read with what it reposts.

The model reads a text by itself: "转发微博" is four characters of nothing, "呵呵" a laugh.
Under an alarming post both pass the alarm on; under a cheerful one neither is a complaint.
This is the one definition of that reading, used by the risk engine for every repost in a
story and by ``sentinel classify`` for posts that come with the post they repost:

* a **bare** repost (no words of its own, or the platform's "转发微博") says what its
  original says;
* a repost **with words** counts them, half as much while the original is not negative
  (Weibo repost texts carry the whole ``//@`` chain, so one "[泪]" in a cheerful cascade
  would echo through every later repost), and spreading a complaint spreads at least 0.8
  of it;
* words that **take the post seriously** -- asking whether it is true, or alarmed by it
  (:func:`sentinel.risk.text.takes_seriously`) -- count at least 0.8, whatever the original.

Negativity here is the engine's 0..1 scale (:func:`negativity`: 0 up to P(negative) 0.5,
1 from 0.8). The engine also reads a story's reactions so far (its tone) where this module
has one original.

>>> round(in_context("转发微博", own=0.66, context=0.95), 2)
0.95
>>> round(in_context("转发微博", own=0.66, context=0.10), 2)
0.1
>>> in_context("真的假的？", own=0.45, context=0.30) >= 0.74
True
"""

from __future__ import annotations

from sentinel.risk.text import fold, is_bare_repost, takes_seriously

__all__ = ["SERIOUS", "in_context", "negativity", "repost_negativity"]

SERIOUS = 0.8  # negativity of a reaction that takes its post seriously, at least
SPREADS = 0.8  # share of its original's negativity a repost with words passes on, at least


def negativity(p: float) -> float:
    """P(negative) -> the engine's 0..1 negativity: 0 up to 0.5, 0.5 at 0.65, 1 from 0.8."""
    return 0.0 if p <= 0.5 else 1.0 if p >= 0.8 else (p - 0.5) / 0.3


def repost_negativity(own: float, root: float, tone: float, *, bare: bool, serious: float = 0.0) -> float:
    """A repost's negativity in its story: ``own`` (its words), ``root`` (the original's),
    ``tone`` (the story's so far; the original's where there is no story), ``serious`` (the
    floor for words that take the post seriously, 0 for others)."""
    if bare:
        return max(tone, SPREADS * root)
    return max(own * (0.5 + 0.5 * max(root, tone)), SPREADS * root, serious)


def in_context(text: str, own: float, context: float, *, serious: float = SERIOUS) -> float:
    """P(negative) of a repost whose words the model reads as ``own`` under a post it reads as
    ``context`` (both P(negative)); ``serious`` = 0 leaves questions and alarm to the model."""
    if is_bare_repost(text):
        return context
    root = negativity(context)
    floor = serious if serious > 0 and takes_seriously(fold(text)) else 0.0
    v = repost_negativity(negativity(own), root, root, bare=False, serious=floor)
    # back to a probability: a reading that is not negative in context keeps the model's lean
    return 0.5 + 0.3 * v if v > 0 else min(own, 0.5)
