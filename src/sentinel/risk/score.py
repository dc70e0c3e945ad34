"""The risk score: indicators -> 0..100, with each factor's value, baseline and contribution.

Every indicator becomes a strength ``f`` in 0..1:

* ``volume``: negative-weighted posts in the short window (and the last hour) against the
  seasonal baseline. ``f = clip(log2((obs+1.5)/(exp+1.5)) / 3 * (1 + clip((z-6)/6))) *
  clip(z / 3)`` with ``z = (obs-exp)/sqrt(exp+1)``: eight times the usual negative volume,
  and significant -- or less than eight times when it is far beyond chance (z of 6 to 12: a
  big brand's hour with four times its usual complaints is certain, not a fluke); times
  ``0.2 + 0.8 clip(log2(negative growth / growth of all posts))``: a surge of every kind of
  post (a promotion, a feel-good story) is no crisis.
* ``negative_share``: share of negative weight among all posts against the usual share
  (at least 0.12): ``f = clip((share - base) / 0.4) * clip(n/n_full)`` where ``n_full =
  clip(2 * expected posts + 8, 8, 20)`` (20 before the baseline knows the watch: a watch that
  usually sees one post in ten minutes has its share's evidence from ten), or the same over
  the last hour with ``clip(n_1h/40)``, or -- when the last hour's share is at least 0.10 --
  relative to a low usual share, ``clip((share_1h/base - 1.5)/2) * clip((n_1h - 100)/200)``:
  the largest of the three.
* ``velocity``: the fastest negative story's posts per minute (or engagement growth),
  ``f = log(1+v) / log(1+saturation) * clip((negativity - 0.3) / 0.4)``.
  A story also counts as dark as far as it reads like a rumour (``sentinel.risk.rumour``:
  its original and first reactions; 0 up to P(rumour) ``rumour_from``, 1 at 0.3 above).
* ``reach``: followers behind the negative posts, ``f = clip((log10(1+sum) - 4) / 3)``
  (10 thousand -> 0, 10 million -> 1).
* ``kol``: distinct verified / high-follower negative authors, ``f = 1 - exp(-k/2)``.
* ``topic``: mean crisis-topic severity of the negative posts (taxonomy weights).

The first three say how unusual the moment is (anomaly ``A``), the last three how much it
can hurt (severity ``S``); severity only counts as far as there is an anomaly:

    A = sum(w_i f_i, anomaly)          (renormalised over the available ones on a cold start)
    S = sum(w_i f_i, severity)
    A = max(A, 0.5 * spread)           (a story far beyond chance and fully dark, or fully
                                        rumour-like, is an anomaly on its own: SPREAD_ALONE)
    risk = 100 * gate * (A + S * min(1, A / 0.3))
    gate = max(clip((voices - 2) / 5), clip((voices_1h - 4) / 10))
                                       distinct negative voices (short window, last hour):
                                       three angry posts are not red
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["ANOMALY", "SEVERITY", "Indicators", "Score", "risk_score", "story_strength"]

ANOMALY = ("volume", "negative_share", "velocity", "spread")
WINDOW = ("volume", "negative_share", "velocity")  # renormalised among themselves on a cold start
FLOOR_SHARE = 0.12
SEVERITY = ("reach", "kol", "topic")
# posts the short window's share needs for full strength: twice the watch's usual count plus
# eight, within these bounds (the upper one is also the cold-start value)
SHARE_POSTS_MIN, SHARE_POSTS_MAX = 8.0, 20.0
# the last hour's share at which the share relative to the usual one counts
RELATIVE_SHARE_FROM = 0.10
# z at which the volume's log-ratio starts to count extra, and doubles at twice that
SURE_Z = 6.0


def _clip(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


@dataclass(slots=True)
class Indicators:
    """A watch's indicators at one tick (short window unless named)."""

    posts: float
    negative: float
    voices: int
    posts_1h: float
    voices_1h: int
    expected_posts: float | None
    expected_negative: float | None
    negative_1h: float
    expected_negative_1h: float | None
    expected_posts_1h: float | None
    share: float
    base_share: float
    velocity: float
    velocity_negativity: float
    reach: float
    kol: int
    topic: float
    dispersion: float = 4.0  # negative-binomial size of the counts against the baseline
    story_posts: float = 0.0  # the most spreading story's posts in the short window
    story_expected: float | None = None  # what the watch's largest story usually has there
    story_tone: float = 0.0  # and its tone (original and worded reactions, 0..1)
    life_posts: float = 0.0  # the largest big story's posts over its life (up to the story TTL)
    life_tone: float = 0.0
    life_expected: float | None = None  # the watch's usual posts over that story's life
    story: str | None = None  # ids of the most spreading story and of the largest big story
    life_story: str | None = None
    story_rumour: float = 0.0  # how much each reads like a rumour (0..1 strength, RumourModel)
    life_rumour: float = 0.0


# a story far beyond chance and fully dark (or rumour-like) is this much anomaly on its own
SPREAD_ALONE = 0.5
GATE_FROM, GATE_SPAN = 2.0, 5.0  # distinct negative voices in the short window: gate 0 .. 1
SURPRISE_FROM, SURPRISE_FULL = 2.0, 7.0  # -log10 tail probability: 1 in 100 -> 0, 1 in 10^7 -> 1


def nb_surprise(obs: float, mean: float, size: float) -> float:
    """``-log10 P(X >= obs)`` for a negative binomial with this mean and size (0 if obs <= mean).

    A count's surprise under the seasonal baseline, as burst detectors score it: 31 posts
    where 1.3 are expected are not "a ratio of 24" but a one-in-10^15 event; 60 where 40
    are expected are one in 50. The negative binomial (variance ``mean + mean^2/size``)
    rather than the Poisson, because real counts vary more than chance from hour to hour."""
    if obs <= mean or mean <= 0:
        return 0.0 if obs <= mean else 12.0
    p = size / (size + mean)
    n = obs
    log_term = (
        math.lgamma(n + size)
        - math.lgamma(size)
        - math.lgamma(n + 1)
        + size * math.log(p)
        + n * math.log1p(-p)
    )
    # the tail from obs on: terms shrink by (k + size) / (k + 1) * (1 - p) each step
    total, term, k = 1.0, 1.0, n
    for _ in range(2000):
        term *= (k + size) / (k + 1) * (1 - p)
        total += term
        k += 1
        if term < 1e-9 * total:
            break
    return max(0.0, -(log_term + math.log(total)) / math.log(10))


@lru_cache(maxsize=4096)
def _surprise(obs: float, exp: float, size: float) -> float:
    # cached: a watch asks the same question every tick while its story and its hour hold
    return _clip((nb_surprise(obs, exp, size) - SURPRISE_FROM) / (SURPRISE_FULL - SURPRISE_FROM))


# a story is compared with at least this many posts of the watch (a quiet night is not empty:
# five reposts at 3 a.m. where 0.1 post is expected are a curiosity, not a crisis)
STORY_FLOOR = 1.0
# a story counts from TONE_FROM above the watch's usual negative share, and from a tone of at
# least TONE_MIN (a cheerful brand's feel-good story is "darker than usual" at 0.3), fully
# TONE_SPAN later
TONE_FROM, TONE_MIN, TONE_SPAN = 0.05, 0.3, 0.15


def _darker(tone: float, base: float) -> float:
    return _clip((tone - max(base + TONE_FROM, TONE_MIN)) / TONE_SPAN)


def _volume(obs: float, exp: float) -> float:
    ratio = (obs + 1.5) / (exp + 1.5)
    z = (obs - exp) / math.sqrt(exp + 1.0)
    # a rise far beyond chance needs less than eight times the usual: hundreds of posts an
    # hour make a fourfold rise in complaints certain (a big brand's slow burn)
    sure = 1.0 + _clip((z - SURE_Z) / SURE_Z)
    return _clip(math.log2(ratio) / 3.0 * sure) * _clip(z / 3.0)


def _outpaces(neg: float, exp_neg: float, posts: float, exp_posts: float) -> float:
    """0.2..1: how much faster negative volume grew than all volume (1 at twice as fast)."""
    growth = ((neg + 1.5) / (exp_neg + 1.5)) / ((posts + 3.0) / (exp_posts + 3.0))
    return 0.2 + 0.8 * _clip(math.log2(max(growth, 1e-9)))


def story_strength(
    posts: float, tone: float, expected: float, dispersion: float, base_share: float, rumour: float = 0.0
) -> float:
    """How unusual one story's ``posts`` are against ``expected`` posts of the whole watch, times
    how much darker than the watch's usual share its tone is, or how much it reads like a
    rumour, the larger (what ``spread`` scores)."""
    base = max(base_share, FLOOR_SHARE)
    return _surprise(posts, max(expected, STORY_FLOOR), dispersion) * max(_darker(tone, base), rumour)


def _spread(ind: Indicators, base: float) -> tuple[float, float]:
    """Strengths of the most spreading story (its short window) and of the largest (its life)."""
    spread = life = 0.0
    if ind.expected_posts is not None:
        # one story (a repost cascade, copies of one post) with more posts in the short window
        # than the whole watch could have by chance, in a tone at least a little darker than usual
        usual = ind.expected_posts if ind.story_expected is None else ind.story_expected
        spread = story_strength(
            ind.story_posts, ind.story_tone, usual, ind.dispersion, base, ind.story_rumour
        )
    if ind.life_expected is not None:
        # a slow cascade: unremarkable in any ten minutes, but hundreds of reposts in a few hours
        life = story_strength(
            ind.life_posts, ind.life_tone, ind.life_expected, ind.dispersion, base, ind.life_rumour
        )
    return spread, life


def strengths(ind: Indicators, velocity_saturation: float) -> dict[str, float | None]:
    # a share below 0.12 is ordinary whatever the history says (a tiny base would make
    # every handful of complaints look like a jump)
    base = max(ind.base_share, FLOOR_SHARE)
    # how many posts make the share evidence depends on how many the watch usually sees: seven
    # posts in ten minutes are nothing for a big brand and a burst for one with a post or two
    n_full = SHARE_POSTS_MAX
    if ind.expected_posts is not None:
        n_full = min(SHARE_POSTS_MAX, max(SHARE_POSTS_MIN, 2.0 * ind.expected_posts + 8.0))
    share = _clip((ind.share - base) / 0.4) * _clip(ind.posts / n_full)
    # the last hour too: a slow burn shows there before any ten minutes look unusual
    share_1h = ind.negative_1h / ind.posts_1h if ind.posts_1h > 0 else 0.0
    share = max(share, _clip((share_1h - base) / 0.4) * _clip(ind.posts_1h / 40.0))
    # and relative to a low usual share, where many posts make a small lift certain (a big
    # brand's slow burn: 5 % -> 14 % negative over hundreds of posts an hour)
    raw = max(ind.base_share, 0.02)
    if share_1h >= RELATIVE_SHARE_FROM:
        share = max(share, _clip((share_1h / raw - 1.5) / 2.0) * _clip((ind.posts_1h - 100.0) / 200.0))
    vol: float | None = None
    if ind.expected_negative is not None and ind.expected_posts is not None:
        # more negative posts only because there are more posts of every kind (a promotion,
        # a feel-good story going viral) is not a crisis: the volume counts fully only when
        # negative posts grow at least twice as fast as all posts
        vol = _volume(ind.negative, ind.expected_negative) * _outpaces(
            ind.negative, ind.expected_negative, ind.posts, ind.expected_posts
        )
        if ind.expected_negative_1h is not None and ind.expected_posts_1h is not None:
            vol = max(
                vol,
                _volume(ind.negative_1h, ind.expected_negative_1h)
                * _outpaces(ind.negative_1h, ind.expected_negative_1h, ind.posts_1h, ind.expected_posts_1h),
            )
    # a fast story counts by how clearly negative it is (a viral cheer with a few "[泪]" is not)
    v = _clip(math.log1p(ind.velocity) / math.log1p(velocity_saturation))
    vel = v * _clip((ind.velocity_negativity - 0.3) / 0.4)
    spread, life = _spread(ind, base)
    reach = _clip((math.log10(1.0 + ind.reach) - 4.0) / 3.0)
    kol = 1.0 - math.exp(-ind.kol / 2.0)
    return {
        "volume": vol,
        "negative_share": share,
        "velocity": vel,
        "spread": max(spread, life) if ind.expected_posts is not None else None,
        "reach": reach,
        "kol": kol,
        "topic": _clip(ind.topic),
    }


@dataclass(slots=True)
class Score:
    """A risk score and what it is made of; ``factors()`` renders it for an alert event."""

    risk: float
    gate: float
    strength: dict[str, float | None]
    parts: dict[str, float]
    indicators: Indicators

    def factors(self) -> dict[str, Any]:
        ind = self.indicators
        values: dict[str, tuple[float, float | None]] = {
            "volume": (ind.negative, ind.expected_negative),
            "negative_share": (ind.share, max(ind.base_share, FLOOR_SHARE)),
            "velocity": (ind.velocity, None),
            "spread": (
                ind.story_posts,
                ind.expected_posts if ind.story_expected is None else ind.story_expected,
            ),
            "reach": (ind.reach, None),
            "kol": (float(ind.kol), None),
            "topic": (ind.topic, None),
        }
        out: dict[str, Any] = {}
        for k in (*ANOMALY, *SEVERITY):
            value, baseline = values[k]
            f = self.strength[k]
            out[k] = {
                "value": round(value, 3),
                "baseline": None if baseline is None else round(baseline, 3),
                "strength": None if f is None else round(f, 3),
                "contribution": round(100.0 * self.gate * self.parts[k], 2),
            }
        out["velocity"]["negative"] = round(ind.velocity_negativity, 3)
        spread, life = _spread(ind, max(ind.base_share, FLOOR_SHARE))
        if max(spread, life) > 0:
            # the story behind the spread: its posts against what the whole watch usually has
            big = life > spread
            out["spread"]["story"] = {
                "id": ind.life_story if big else ind.story,
                "posts": round(ind.life_posts if big else ind.story_posts, 1),
                "expected": round((ind.life_expected if big else ind.story_expected) or 0.0, 2),
                "tone": round(ind.life_tone if big else ind.story_tone, 3),
                "rumour": round(ind.life_rumour if big else ind.story_rumour, 3),
                "span": "life" if big else "short_window",
            }
        out["volume"]["posts"] = round(ind.posts, 1)
        out["volume"]["expected_posts"] = None if ind.expected_posts is None else round(ind.expected_posts, 1)
        out["evidence"] = {"voices": ind.voices, "voices_1h": ind.voices_1h, "gate": round(self.gate, 3)}
        return out


def risk_score(ind: Indicators, weights: dict[str, float], *, velocity_saturation: float = 30.0) -> Score:
    """Risk 0..100 (see the module docstring) with the strengths and contributions behind it."""
    f = strengths(ind, velocity_saturation)
    # on a cold start (no baseline: no volume) the other window factors carry the anomaly; the
    # story's spread, which needs the baseline too, is simply absent then rather than spread
    # over the others (that made a demo's first minute jump two levels in one tick)
    w_window = sum(weights[k] for k in WINDOW)
    w_avail = sum(weights[k] for k in WINDOW if f[k] is not None)
    scale = w_window / w_avail if w_avail > 0 else 0.0
    parts = {k: weights[k] * (f[k] or 0.0) * (scale if k in WINDOW else 1.0) for k in ANOMALY}
    anomaly = sum(parts.values())
    if SPREAD_ALONE > 0 and f["spread"] is not None and SPREAD_ALONE * f["spread"] > anomaly:
        parts["spread"] += SPREAD_ALONE * f["spread"] - anomaly
        anomaly = SPREAD_ALONE * f["spread"]
    amplify = min(1.0, anomaly / 0.3)
    for k in SEVERITY:
        parts[k] = weights[k] * (f[k] or 0.0) * amplify
    gate = max(_clip((ind.voices - GATE_FROM) / GATE_SPAN), _clip((ind.voices_1h - 4) / 10.0))
    risk = min(100.0, 100.0 * gate * sum(parts.values()))
    return Score(risk, gate, f, parts, ind)
