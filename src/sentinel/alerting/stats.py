"""Small, dependency-free tests for before/after comparisons.

A response's effect is judged on counts that are noisy by nature: a quiet hour after a
statement may be chance. Every comparison therefore carries an interval and a p-value, and
is called a change only when the interval excludes "no change".

* shares (negative share, share mentioning the response): difference of two proportions,
  Newcombe's hybrid Wilson interval and the pooled two-proportion z-test;
* rates (volume, spread velocity): Poisson rate ratio, exact conditional binomial test and a
  log-normal interval (counts of 0 get the usual 0.5 correction);
* means (model negativity): percentile bootstrap of the difference, fixed seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Comparison", "bootstrap_mean_diff", "rate_ratio", "two_proportions", "wilson"]

_N = NormalDist()


@dataclass(frozen=True, slots=True)
class Comparison:
    """One metric before and after, with the interval of the change and its p-value.

    ``change`` is after - before for shares and means, after / before for rates
    (``kind == "ratio"``). ``significant`` means the interval excludes no-change.
    """

    metric: str
    kind: str  # "difference" | "ratio"
    before: float | None
    after: float | None
    change: float | None
    low: float | None
    high: float | None
    p_value: float | None
    n_before: int
    n_after: int
    test: str
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        if self.low is None or self.high is None:
            return False
        null = 1.0 if self.kind == "ratio" else 0.0
        return not (self.low <= null <= self.high)

    @property
    def direction(self) -> str:
        """``up``, ``down`` or ``no clear change`` (the interval covers no-change)."""
        if not self.significant or self.change is None:
            return "no clear change"
        null = 1.0 if self.kind == "ratio" else 0.0
        return "up" if self.change > null else "down"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(significant=self.significant, direction=self.direction)
        return d


def _z(alpha: float) -> float:
    return _N.inv_cdf(1 - alpha / 2)


def wilson(x: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a proportion (sane at 0/n and n/n, unlike the Wald one)."""
    if n <= 0:
        return (0.0, 1.0)
    z = _z(alpha)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportions(metric: str, x1: int, n1: int, x2: int, n2: int, alpha: float = 0.05) -> Comparison:
    """Share x1/n1 before, x2/n2 after: Newcombe interval of p2 - p1, pooled z-test."""
    if n1 <= 0 or n2 <= 0:
        return Comparison(
            metric,
            "difference",
            _share(x1, n1),
            _share(x2, n2),
            None,
            None,
            None,
            None,
            n1,
            n2,
            "two-proportion z-test",
            alpha,
        )
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, alpha)
    l2, u2 = wilson(x2, n2, alpha)
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 1.0 if se == 0 else 2 * (1 - _N.cdf(abs(d) / se))
    return Comparison(
        metric,
        "difference",
        p1,
        p2,
        d,
        low,
        high,
        p_value,
        n1,
        n2,
        "two-proportion z-test, Newcombe interval",
        alpha,
    )


def _share(x: int, n: int) -> float | None:
    return x / n if n > 0 else None


def rate_ratio(
    metric: str, c1: int, t1: float, c2: int, t2: float, alpha: float = 0.05, per: float = 3600.0
) -> Comparison:
    """Counts c1 in t1 seconds before, c2 in t2 after: rates per ``per`` seconds and their ratio."""
    if t1 <= 0 or t2 <= 0:
        raise ValueError("both windows need a positive length")
    r1, r2 = c1 / t1 * per, c2 / t2 * per
    if c1 + c2 == 0:
        return Comparison(
            metric, "ratio", r1, r2, None, None, None, 1.0, c1, c2, "exact conditional binomial test", alpha
        )
    a, b = (c1, c2) if c1 and c2 else (c1 + 0.5, c2 + 0.5)
    ratio = (b / t2) / (a / t1)
    half = _z(alpha) * math.sqrt(1 / a + 1 / b)
    low, high = ratio * math.exp(-half), ratio * math.exp(half)
    p_value = _binomial_two_sided(c2, c1 + c2, t2 / (t1 + t2))
    change = (c2 / t2) / (c1 / t1) if c1 else ratio
    return Comparison(
        metric,
        "ratio",
        r1,
        r2,
        change,
        low,
        high,
        p_value,
        c1,
        c2,
        "exact conditional binomial test (Poisson rates)",
        alpha,
    )


def _binomial_two_sided(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial p-value (sum of outcomes no likelier than k)."""
    if n > 20_000:  # the normal approximation is exact enough here, and O(1)
        se = math.sqrt(n * p * (1 - p))
        return 1.0 if se == 0 else 2 * (1 - _N.cdf(abs(k - n * p) / se))
    ks = np.arange(n + 1)
    lgam = np.array([math.lgamma(i + 1) for i in range(n + 1)])
    logp = lgam[n] - lgam - lgam[::-1] + ks * math.log(p) + (n - ks) * math.log1p(-p)
    observed = logp[k]
    total = float(np.exp(logp[logp <= observed + 1e-7]).sum())
    return min(1.0, total)


def bootstrap_mean_diff(
    metric: str,
    before: npt.ArrayLike,
    after: npt.ArrayLike,
    alpha: float = 0.05,
    rounds: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Mean after - mean before, with a percentile bootstrap interval (deterministic seed)."""
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    if b.size == 0 or a.size == 0:
        return Comparison(
            metric,
            "difference",
            _mean(b),
            _mean(a),
            None,
            None,
            None,
            None,
            int(b.size),
            int(a.size),
            "bootstrap",
            alpha,
        )
    rng = np.random.default_rng(seed)
    diffs = np.concatenate(list(_boot_diffs(rng, b, a, rounds)))
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p_value = min(1.0, 2 * min(float((diffs <= 0).mean()), float((diffs >= 0).mean())))
    return Comparison(
        metric,
        "difference",
        float(b.mean()),
        float(a.mean()),
        float(a.mean() - b.mean()),
        float(low),
        float(high),
        p_value,
        int(b.size),
        int(a.size),
        f"percentile bootstrap ({rounds} rounds)",
        alpha,
    )


def _boot_diffs(rng: np.random.Generator, b: np.ndarray, a: np.ndarray, rounds: int) -> Iterator[np.ndarray]:
    # in slices, so a window of 100k posts does not need a 2000 x 100k index matrix at once
    step = max(1, 2_000_000 // max(a.size, b.size))
    for start in range(0, rounds, step):
        k = min(step, rounds - start)
        yield a[rng.integers(0, a.size, (k, a.size))].mean(axis=1) - b[
            rng.integers(0, b.size, (k, b.size))
        ].mean(axis=1)


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None
