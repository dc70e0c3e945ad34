"""Placebo check of ``response effect``: is natural decay taken for a response that worked?

    python bench/effect_placebo.py [--trials 400] [--seed 1] [--window 6h] [--json out.json]

Each trial draws one simulated crisis from a generative model of a Weibo crisis, with its
parameters drawn at random (see :func:`crisis`): everyday chatter at 20-150 posts/h (5-20 %
negative); from the onset, a crisis that rises over 5-60 min to 4-30 times that rate and then
decays by itself -- exponentially (half-life 0.5-5 h) or as a power law (exponent 0.8-2.5) --
55-85 % negative, posted in bursts (a gamma-distributed multiplier per minute, shape 2-10)
and spread as reposts of a few originals (the main stories) and reposts of those reposts. A
response is placed at a random time 15 min to 6 h after the onset, as a PR team would, and
``sentinel.alerting.responses.evaluate_effect`` is run on the posts exactly as the CLI runs it.

* **placebo**: the response does nothing. It must be called "effective" in at most 10 % of
  the trials.
* **halving**: from the response on, each negative post is kept with probability 1/2 (the
  negative rate halves). It must be called "effective" in at least 80 % of the trials.

The same trials (the same crises and response times) run through the old before/after
comparison (negative share down and significant) for contrast. Prints the rates with their
trial counts and the verdicts' spread; ``--json`` writes them too.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sentinel.alerting.responses import ResponseEvent, evaluate_effect
from sentinel.alerting.stats import two_proportions
from sentinel.post import Author, Post, ScoredPost

T0 = datetime(2026, 11, 28, tzinfo=UTC)
ONSET = 12 * 3600.0  # seconds after T0
WATCH = "acme"


@dataclass(frozen=True, slots=True)
class Crisis:
    """One drawn crisis: its posts and the response time (seconds after T0)."""

    posts: list[ScoredPost]
    response_at: float
    params: dict[str, float | str]


def crisis(rng: np.random.Generator, *, halve_after: bool, hours: float = 24.0) -> Crisis:
    """A day of a watch with a crisis at noon, drawn at random (see the module docstring)."""
    span = hours * 3600.0
    base = rng.uniform(20, 150) / 3600  # posts per second
    base_neg = rng.uniform(0.05, 0.20)
    peak = base * rng.uniform(4, 30)
    rise = rng.uniform(5, 60) * 60
    shape = "exponential" if rng.random() < 0.5 else "power"
    half_life = rng.uniform(0.5, 5) * 3600
    alpha = rng.uniform(0.8, 2.5)
    scale = rng.uniform(10, 90) * 60
    crisis_neg = rng.uniform(0.55, 0.85)
    burst = rng.uniform(2, 10)
    response_at = ONSET + rng.uniform(15 * 60, 6 * 3600)

    minutes = np.arange(0, span, 60.0)
    t = minutes - ONSET
    up = np.clip(t / rise, 0, 1)
    after_peak = np.clip(t - rise, 0, None)
    if shape == "exponential":
        down = np.exp(-math.log(2) * after_peak / half_life)
    else:
        down = (1 + after_peak / scale) ** -alpha
    crisis_rate = np.where(t >= 0, peak * up * down, 0.0)
    crisis_rate = crisis_rate * rng.gamma(burst, 1 / burst, minutes.size)
    n_bg = rng.poisson(base * 60, minutes.size)
    n_cr = rng.poisson(crisis_rate * 60)

    posts: list[ScoredPost] = []
    roots: list[str] = []
    weights = np.array([1.0 / (k + 1) ** 1.2 for k in range(6)])
    weights /= weights.sum()
    for m, (nb, nc) in enumerate(zip(n_bg, n_cr, strict=True)):
        for kind, n in (("bg", nb), ("cr", nc)):
            for ts in np.sort(minutes[m] + rng.uniform(0, 60, n)):
                negative = rng.random() < (base_neg if kind == "bg" else crisis_neg)
                if negative and halve_after and ts >= response_at and rng.random() < 0.5:
                    continue
                pid = str(len(posts) + 1)
                repost_of = None
                if kind == "cr":
                    if len(roots) < 6:
                        roots.append(pid)
                    else:
                        pick = roots[int(rng.choice(6, p=weights))]
                        # a repost of the original, or of a repost of it (chains of reposts)
                        repost_of = pick if rng.random() < 0.7 or len(posts) < 10 else posts[-1].post.id
                p_neg = float(rng.beta(8, 2) if negative else rng.beta(2, 8))
                created = T0 + timedelta(seconds=float(ts))
                text = "艾克美" if repost_of is None else "转发微博"
                post = Post("weibo", pid, text, created, Author(f"u{pid}"), repost_of=repost_of)
                posts.append(ScoredPost(post, p_neg, "negative" if negative else "neutral"))
    params: dict[str, float | str] = {
        "base_per_h": round(base * 3600, 1),
        "peak_per_h": round(peak * 3600, 1),
        "rise_min": round(rise / 60, 1),
        "shape": shape,
        "half_life_h": round(half_life / 3600, 2),
        "alpha": round(alpha, 2),
        "response_after_onset_h": round((response_at - ONSET) / 3600, 2),
        "burst_shape": round(burst, 1),
    }
    return Crisis(posts, response_at, params)


def old_verdict(c: Crisis, window: timedelta) -> bool:
    """The former method: negative share before vs after, called down when significant."""
    at = T0 + timedelta(seconds=c.response_at)
    before = [sp for sp in c.posts if at - window <= sp.post.created_at < at]
    after = [sp for sp in c.posts if at <= sp.post.created_at < at + window]
    nb = sum(sp.label == "negative" for sp in before)
    na = sum(sp.label == "negative" for sp in after)
    return two_proportions("negative share", nb, len(before), na, len(after)).direction == "down"


def run(trials: int, seed: int, window: timedelta) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {"trials": trials, "seed": seed, "window_hours": window.total_seconds() / 3600}
    for arm, halve in (("placebo", False), ("halving", True)):
        verdicts: Counter[str] = Counter()
        old = 0
        arm_rng = np.random.default_rng(rng.integers(2**32))
        for _ in range(trials):
            c = crisis(arm_rng, halve_after=halve)
            at = T0 + timedelta(seconds=c.response_at)
            response = ResponseEvent(1, WATCH, at, "statement")
            effect = evaluate_effect(response, c.posts, [], now=T0 + timedelta(days=2), window=window)
            verdicts[effect.verdict] += 1
            old += old_verdict(c, window)
        out[arm] = {
            "effective": verdicts["effective"],
            "rate": round(verdicts["effective"] / trials, 3),
            "verdicts": dict(verdicts.most_common()),
            "old_method_down": old,
            "old_method_rate": round(old / trials, 3),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", default="6h", help="before/after window, e.g. 6h, 2h, 30m")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from sentinel.config import parse_duration

    window = timedelta(seconds=parse_duration(args.window))
    result = run(args.trials, args.seed, window)
    for arm in ("placebo", "halving"):
        r = result[arm]
        assert isinstance(r, dict)
        print(
            f"{arm:8} effective {r['effective']:4d}/{args.trials} ({100 * r['rate']:.1f} %)   "
            f"old before/after 'down' {r['old_method_down']:4d}/{args.trials} ({100 * r['old_method_rate']:.1f} %)   "
            f"verdicts {r['verdicts']}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
