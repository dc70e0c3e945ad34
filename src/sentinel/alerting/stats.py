"""Small, dependency-free statistics for measuring a response's effect.

A response's effect is judged on counts that are noisy by nature, and on a crisis that decays
by itself. The comparisons :mod:`sentinel.alerting.responses` makes are against the course
the crisis was on (an interrupted time series):

* counts per interval: a log-linear quasi-Poisson trend above a floor
  (:func:`poisson_trend`), fitted by iteratively reweighted least squares, projected, and the
  observed total set against it (:func:`trend_ratio`: the ratio with a log-scale interval from
  the projection's covariance and the counts' overdispersion);
* shares: a quasi-binomial logistic trend (:func:`binomial_trend`);
* means: a weighted linear trend (:func:`mean_trend`, :func:`trend_difference`).

The plain two-window tests (:func:`two_proportions`, :func:`rate_ratio`,
:func:`bootstrap_mean_diff`) remain for comparisons where no course is to be projected.
Every comparison carries an interval and a p-value, and is called a change only when the
interval excludes "no change".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Comparison",
    "Projection",
    "binomial_trend",
    "bootstrap_mean_diff",
    "mean_trend",
    "poisson_trend",
    "rate_ratio",
    "trend_difference",
    "trend_ratio",
    "two_proportions",
    "wilson",
]

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
    # against a counterfactual (:func:`trend_ratio`, :func:`trend_difference`): what the
    # pre-response course projects for the after window; ``change`` is then observed vs it
    expected: float | None = None

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


# -- against the pre-response course (interrupted time series) ----------------------------------


@dataclass(frozen=True, slots=True)
class Projection:
    """A trend fitted on the intervals before a response and projected over those after it.

    ``expected`` is the projected total (counts) or mean; ``var`` its variance from the fitted
    coefficients; ``noise`` the variance the observed total would have around ``expected`` if
    nothing changed (overdispersion included); ``slope`` the trend per interval (log scale for
    counts, logit for shares) with its standard error."""

    expected: float
    var: float
    noise: float
    slope: float
    slope_se: float
    dispersion: float
    deviance: float = 0.0  # of the fit (Poisson deviance for counts): the smaller, the closer


def _design(x: npt.ArrayLike) -> np.ndarray:
    xs = np.asarray(x, dtype=float)
    return np.column_stack([np.ones_like(xs), xs])


def _dispersion(pearson: float, n: int) -> float:
    # quasi-likelihood: the Pearson statistic over the residual degrees of freedom, never below
    # Poisson / binomial (cascades make counts burstier, not smoother)
    return max(1.0, pearson / (n - 2)) if n > 2 else 1.0


def poisson_trend(
    y: npt.ArrayLike, x: npt.ArrayLike, x_after: npt.ArrayLike, floor: float = 0.0
) -> Projection | None:
    """Log-linear Poisson trend of the counts ``y`` at ``x`` above a known ``floor`` per
    interval (``floor + exp(a + b x)``; quasi-Poisson dispersion), projected as the total count
    over ``x_after``. None when there is nothing to fit."""
    ys = np.asarray(y, dtype=float)
    if ys.size < 3 or ys.sum() <= 0:
        return None
    floor = max(0.0, min(floor, 0.8 * float(ys.mean())))
    xf, xa = _design(x), _design(x_after)
    excess = np.maximum(ys - floor, 0.0)
    beta = np.array([math.log(excess.mean() + 1e-3), 0.0])
    for _ in range(200):
        e = np.exp(np.clip(xf @ beta, -30, 30))
        mu = floor + e
        w = e * e / mu
        step = np.linalg.solve((xf.T * w) @ xf + 1e-9 * np.eye(2), xf.T @ (e * (ys - mu) / mu))
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-9:
            break
    e = np.exp(np.clip(xf @ beta, -30, 30))
    mu = floor + e
    phi = _dispersion(float(((ys - mu) ** 2 / mu).sum()), ys.size)
    cov = phi * np.linalg.inv((xf.T * (e * e / mu)) @ xf + 1e-9 * np.eye(2))
    e_a = np.exp(np.clip(xa @ beta, -30, 30))
    g = xa.T @ e_a
    expected = float(floor * len(e_a) + e_a.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2 * float(np.where(ys > 0, ys * np.log(ys / mu), 0.0).sum() - (ys - mu).sum())
    return Projection(
        expected, float(g @ cov @ g), phi * expected, float(beta[1]), math.sqrt(cov[1, 1]), phi, dev
    )


def binomial_trend(
    k: npt.ArrayLike, n: npt.ArrayLike, x: npt.ArrayLike, n_after: npt.ArrayLike, x_after: npt.ArrayLike
) -> Projection | None:
    """Logistic trend of the shares ``k / n`` at ``x`` (quasi-binomial), projected as the
    expected count of ``n_after`` posts at ``x_after``. None without both outcomes to fit."""
    ks, ns = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    keep = ns > 0
    ks, ns, xs = ks[keep], ns[keep], np.asarray(x, dtype=float)[keep]
    na = np.asarray(n_after, dtype=float)
    if ks.size < 3:
        return None
    if ks.sum() < 1 or (ns - ks).sum() < 1:
        # every post one way (a crisis of nothing but complaints): no trend to fit, the share
        # stays where it was, as uncertain as a share seen only one way can be (Jeffreys)
        p0 = (ks.sum() + 0.5) / (ns.sum() + 1.0)
        total = float(na.sum())
        return Projection(
            total * p0, total**2 * p0 * (1 - p0) / (ns.sum() + 1.0), total * p0 * (1 - p0), 0.0, 0.0, 1.0
        )
    xf, xa = _design(xs), _design(x_after)
    share = ks.sum() / ns.sum()
    beta = np.array([math.log(share / (1 - share)), 0.0])
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(xf @ beta, -30, 30)))
        w = np.maximum(ns * p * (1 - p), 1e-12)
        z = xf @ beta + (ks - ns * p) / w
        xtw = xf.T * w
        new = np.linalg.solve(xtw @ xf + 1e-9 * np.eye(2), xtw @ z)
        done = bool(np.max(np.abs(new - beta)) < 1e-9)
        beta = new
        if done:
            break
    p = 1 / (1 + np.exp(-np.clip(xf @ beta, -30, 30)))
    w = np.maximum(ns * p * (1 - p), 1e-12)
    phi = _dispersion(float(((ks - ns * p) ** 2 / w).sum()), ks.size)
    cov = phi * np.linalg.inv((xf.T * w) @ xf + 1e-9 * np.eye(2))
    pa = 1 / (1 + np.exp(-np.clip(xa @ beta, -30, 30)))
    g = xa.T @ (na * pa * (1 - pa))
    expected = float((na * pa).sum())
    noise = phi * float((na * pa * (1 - pa)).sum())
    return Projection(expected, float(g @ cov @ g), noise, float(beta[1]), math.sqrt(cov[1, 1]), phi)


def mean_trend(
    means: npt.ArrayLike,
    n: npt.ArrayLike,
    x: npt.ArrayLike,
    n_after: npt.ArrayLike,
    x_after: npt.ArrayLike,
    post_var: float = 0.0,
) -> Projection | None:
    """Weighted linear trend of per-interval means (weights: the posts in each), projected as
    the mean over ``n_after`` posts at ``x_after``; the per-post variance is read off the
    residuals (bursty intervals widen the interval), and is at least ``post_var`` (the posts'
    own spread: intervals that happen to agree do not make a mean certain)."""
    ms, ns = np.asarray(means, dtype=float), np.asarray(n, dtype=float)
    keep = ns > 0
    ms, ns, xs = ms[keep], ns[keep], np.asarray(x, dtype=float)[keep]
    na = np.asarray(n_after, dtype=float)
    if ms.size < 4 or na.sum() <= 0:
        return None
    xf, xa = _design(xs), _design(x_after)
    xtw = xf.T * ns
    inv = np.linalg.inv(xtw @ xf + 1e-9 * np.eye(2))
    beta = inv @ (xtw @ ms)
    sigma2 = max(float((ns * (ms - xf @ beta) ** 2).sum() / (ms.size - 2)), post_var)
    h = (xa.T @ na) / na.sum()
    cov = sigma2 * inv
    return Projection(
        float(h @ beta), float(h @ cov @ h), sigma2 / na.sum(), float(beta[1]), math.sqrt(cov[1, 1]), sigma2
    )


def trend_ratio(
    metric: str,
    before: float | None,
    after: float | None,
    observed: float,
    fit: Projection,
    n_before: int,
    n_after: int,
    alpha: float = 0.05,
    scale: float = 1.0,
) -> Comparison:
    """Observed total against the projected one: the ratio, with a 1 - alpha interval from the
    observed count's overdispersed noise and the projection's own uncertainty (log scale).
    ``scale`` turns the expected total into the unit of ``before`` / ``after``."""
    e = max(fit.expected, 1e-9)
    log_ratio = math.log((observed + 0.5) / (e + 0.5))
    # the observed total's noise around what it is (or around the projection, if larger:
    # a count far below a small projection is no more certain than the projection allows)
    se = math.sqrt((fit.noise / e) / max(observed, e, 1.0) + fit.var / e**2)
    z = _z(alpha)
    p_value = 2 * (1 - _N.cdf(abs(log_ratio) / se)) if se > 0 else None
    return Comparison(
        metric,
        "ratio",
        before,
        after,
        _exp(log_ratio),
        _exp(log_ratio - z * se),
        _exp(log_ratio + z * se),
        p_value,
        n_before,
        n_after,
        "interrupted time series (quasi-Poisson / quasi-binomial trend projected)",
        alpha,
        e * scale,
    )


def _exp(x: float) -> float:
    return math.exp(min(x, 700.0))  # a projection of almost nothing: a huge ratio, not an overflow


def trend_difference(
    metric: str,
    before: float | None,
    observed: float,
    fit: Projection,
    n_before: int,
    n_after: int,
    alpha: float = 0.05,
) -> Comparison:
    """Observed mean after minus the projected mean, with a normal 1 - alpha interval."""
    d = observed - fit.expected
    se = math.sqrt(fit.noise + fit.var)
    z = _z(alpha)
    p_value = 2 * (1 - _N.cdf(abs(d) / se)) if se > 0 else None
    return Comparison(
        metric,
        "difference",
        before,
        observed,
        d,
        d - z * se,
        d + z * se,
        p_value,
        n_before,
        n_after,
        "interrupted time series (weighted linear trend projected)",
        alpha,
        fit.expected,
    )
