"""The risk score: indicators -> 0..100, with each factor's value, baseline and contribution.

Every indicator becomes a strength ``f`` in 0..1:

* ``volume``: negative-weighted posts in the short window (and the last hour) against the
  seasonal baseline. ``f = clip(log2((obs+3)/(exp+3)) / 3) * clip(z / 3)`` with
  ``z = (obs-exp)/sqrt(exp+1)``: eight times the usual negative volume, and significant.
* ``negative_share``: share of negative weight among all posts against the usual share.
  ``f = clip((share - base) / max(0.2, (1-base)/2)) * clip(n/20)``.
* ``velocity``: the fastest story's posts per minute (or engagement growth) times its
  negativity, ``f = log(1+v) / log(1+saturation)``.
* ``reach``: followers behind the negative posts, ``f = clip((log10(1+sum) - 4) / 3)``
  (10 thousand -> 0, 10 million -> 1).
* ``kol``: distinct verified / high-follower negative authors, ``f = 1 - exp(-k/2)``.
* ``topic``: mean crisis-topic severity of the negative posts (taxonomy weights).

The first three say how unusual the moment is (anomaly ``A``), the last three how much it
can hurt (severity ``S``); severity only counts as far as there is an anomaly:

    A = sum(w_i f_i, anomaly)          (renormalised over the available ones on a cold start)
    S = sum(w_i f_i, severity)
    risk = 100 * gate * (A + S * min(1, A / 0.3))
    gate = clip((voices - 2) / 6)      distinct negative voices: three angry posts are not red
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["ANOMALY", "SEVERITY", "Indicators", "risk_score"]

ANOMALY = ("volume", "negative_share", "velocity")
SEVERITY = ("reach", "kol", "topic")


def _clip(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


@dataclass(slots=True)
class Indicators:
    """A watch's indicators at one tick (short window unless named)."""

    posts: float
    negative: float
    voices: int
    expected_posts: float | None
    expected_negative: float | None
    negative_1h: float
    expected_negative_1h: float | None
    share: float
    base_share: float
    velocity: float
    velocity_negativity: float
    reach: float
    kol: int
    topic: float


def _volume(obs: float, exp: float) -> float:
    ratio = (obs + 3.0) / (exp + 3.0)
    z = (obs - exp) / math.sqrt(exp + 1.0)
    return _clip(math.log2(ratio) / 3.0) * _clip(z / 3.0)


def strengths(ind: Indicators, velocity_saturation: float) -> dict[str, float | None]:
    vol: float | None = None
    if ind.expected_negative is not None:
        vol = _volume(ind.negative, ind.expected_negative)
        if ind.expected_negative_1h is not None:
            vol = max(vol, _volume(ind.negative_1h, ind.expected_negative_1h))
    base = ind.base_share
    share = _clip((ind.share - base) / max(0.2, (1 - base) / 2)) * _clip(ind.posts / 20.0)
    v = ind.velocity * ind.velocity_negativity
    vel = _clip(math.log1p(v) / math.log1p(velocity_saturation))
    reach = _clip((math.log10(1.0 + ind.reach) - 4.0) / 3.0)
    kol = 1.0 - math.exp(-ind.kol / 2.0)
    return {
        "volume": vol,
        "negative_share": share,
        "velocity": vel,
        "reach": reach,
        "kol": kol,
        "topic": _clip(ind.topic),
    }


def risk_score(
    ind: Indicators, weights: dict[str, float], *, velocity_saturation: float = 30.0
) -> tuple[float, dict[str, Any]]:
    """Risk 0..100 and the factors behind it (value, baseline, strength, contribution)."""
    f = strengths(ind, velocity_saturation)
    w_anomaly = sum(weights[k] for k in ANOMALY)
    w_avail = sum(weights[k] for k in ANOMALY if f[k] is not None)
    scale = w_anomaly / w_avail if w_avail > 0 else 0.0
    a_parts = {k: weights[k] * (f[k] or 0.0) * scale for k in ANOMALY}
    anomaly = sum(a_parts.values())
    amplify = min(1.0, anomaly / 0.3)
    s_parts = {k: weights[k] * (f[k] or 0.0) * amplify for k in SEVERITY}
    gate = _clip((ind.voices - 2) / 6.0)
    risk = 100.0 * gate * (anomaly + sum(s_parts.values()))
    parts = {**a_parts, **s_parts}
    values: dict[str, tuple[float, float | None]] = {
        "volume": (ind.negative, ind.expected_negative),
        "negative_share": (ind.share, ind.base_share),
        "velocity": (ind.velocity * ind.velocity_negativity, None),
        "reach": (ind.reach, None),
        "kol": (float(ind.kol), None),
        "topic": (ind.topic, None),
    }
    factors: dict[str, Any] = {}
    for k in (*ANOMALY, *SEVERITY):
        value, baseline = values[k]
        factors[k] = {
            "value": round(value, 3),
            "baseline": None if baseline is None else round(baseline, 3),
            "strength": None if f[k] is None else round(f[k] or 0.0, 3),
            "contribution": round(100.0 * gate * parts[k], 2),
        }
    factors["evidence"] = {"value": ind.voices, "baseline": 8, "gate": round(gate, 3)}
    return min(100.0, risk), factors
