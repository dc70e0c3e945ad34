"""Detection benchmark: the risk engine against two reference detectors on labelled streams.

    python bench/detection.py --days 30 --seeds 0 1 2
    python bench/detection.py --suite      # every target on every run behind docs/risk.md
    python bench/detection.py --real both  # the real-cascade suite's tuning and held-out halves
    python bench/detection.py --real fast-start  # its fast-start check (scored, never tuned on)
    python bench/detection.py --real person-read  # its person-read check (the same, crises a person chose)
    python bench/detection.py --real viral  # its viral-decoy check (celebrities' cheerful cascades)

For each seed it generates ``sentinel simulate scenario --name month`` (background with a
daily rhythm, four crisis shapes, three decoys), scores the posts with the lexicon
classifier (or reuses a ``sentiment`` already in the post), and runs

* the risk engine with a watch that has only a name and a query (the defaults),
* ``mean+3sd``: trailing-hour volume against mean + 3 standard deviations of the hourly
  counts of the previous two weeks (Huginn's peak detector),
* ``hour/12h``: trailing-hour volume at least twice the hourly mean of the previous 12 hours
  and at least 20 posts (Meltwater-style spike alerts).

The references are checked every 5 minutes and hold off for 6 hours after an alert.
Reported: crises detected (engine: at yellow or above), median and worst delay from onset,
false alarms per 30 days (alerts outside every incident), decoys escalated (engine: above
blue; references: any alert), and the engine's throughput.

Also reported, as a floor rather than a detector: ``3rd voice`` "alerts" the moment the third
distinct author of a crisis's own posts says something negative (P >= 0.65, what the engine
counts as a voice). A detector that waits for three voices of the crisis itself cannot be
faster than this on the same stream; how the engine's and the references' delays compare
with it shows how much of a delay is the stream (when the posts arrive) and how much the
detector. ``3rd voice, in context`` (real suite) reads a bare repost as its original: the
bundled model reads "转发微博" itself as 0.66, so the plain floor counts three people pressing
"repost" under a calm post as three negative voices.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sentinel.clock import UTC8
from sentinel.config import WatchConfig, level_rank
from sentinel.nlp.base import sentiment_label
from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.post import ScoredPost, parse_post
from sentinel.risk.engine import Engine
from sentinel.risk.options import EngineOptions
from sentinel.risk.text import is_bare_repost
from sentinel.simulate.scenario import generate

RISK_OPTIONS: dict[str, Any] = {}  # [risk] overrides (--risk '{"weights": {...}}'), for trials
STEP = 300.0
HOLD = 6 * 3600.0
GRACE = 2 * 3600.0  # an alert this long after an incident's last post still belongs to it


@dataclass
class Incident:
    id: str
    phase: str
    onset: float
    last: float


@dataclass
class Result:
    detected: int = 0
    crises: int = 0
    delays: list[float] = field(default_factory=list)
    false_alarms: int = 0
    decoys: int = 0
    decoys_escalated: int = 0
    days: float = 0.0


def score_posts(records: Sequence[dict[str, Any]]) -> list[ScoredPost]:
    posts = [parse_post(r) for r in records]
    need = [i for i, r in enumerate(records) if not isinstance(r.get("sentiment"), dict)]
    scores = LexiconClassifier().classify([posts[i].text for i in need])
    negative = {i: s.negative for i, s in zip(need, scores, strict=True)}
    out = []
    for i, p in enumerate(posts):
        neg = negative[i] if i in negative else float(records[i]["sentiment"]["negative"])
        out.append(ScoredPost(p, neg, sentiment_label(neg)))
    return out


def incidents(records: Sequence[dict[str, Any]], tail: float = 1.0) -> list[Incident]:
    """Crises and decoys, from their first post to their last (``tail`` < 1: to the time by
    which that share of their posts had come; a real cascade trickles on for days)."""
    times: dict[str, list[float]] = defaultdict(list)
    phase: dict[str, str] = {}
    for r in records:
        label = r.get("label") or {}
        inc = label.get("incident")
        if not inc or label.get("phase") not in ("crisis", "decoy"):
            continue
        times[inc].append(datetime.fromisoformat(r["created_at"]).timestamp())
        phase[inc] = label["phase"]
    found = []
    for inc, ts in times.items():
        ts.sort()
        found.append(Incident(inc, phase[inc], ts[0], ts[min(len(ts) - 1, math.ceil(tail * len(ts)) - 1)]))
    return sorted(found, key=lambda i: i.onset)


def _transition(ev: Any) -> tuple[float, int, str | None]:
    stories = ev.factors.get("stories") or []
    spread = ev.factors.get("spread", {}).get("story")
    story = spread["id"] if spread else stories[0]["id"] if stories else None
    return (ev.at.timestamp(), 0 if ev.event == "resolved" else level_rank(ev.level), story)


def run_engine(scored: Sequence[ScoredPost], query: str) -> tuple[list[tuple[float, int, str | None]], float]:
    """(time, level, fastest story) of every transition, and observe+evaluate seconds."""
    engine = Engine([WatchConfig(name="brand", query=query)], EngineOptions(**RISK_OPTIONS))
    out: list[tuple[float, int, str | None]] = []
    started = time.process_time()
    batch: list[ScoredPost] = []
    edge = None
    for sp in scored:
        ts = sp.post.created_at.timestamp()
        if edge is None:
            edge = ts - ts % 60 + 60
        if ts >= edge:
            engine.observe(batch)
            out.extend(map(_transition, engine.evaluate(datetime.fromtimestamp(edge, UTC8))))
            batch = []
            edge = ts - ts % 60 + 60
        batch.append(sp)
    engine.observe(batch)
    assert edge is not None
    out.extend(map(_transition, engine.evaluate(datetime.fromtimestamp(edge + 86400, UTC8))))
    return out, time.process_time() - started


def voice_floor(
    records: Sequence[dict[str, Any]], scored: Sequence[ScoredPost], k: int = 3, in_context: bool = False
) -> list[float]:
    """When each crisis's ``k``-th distinct negative author posted (see the module docstring).

    ``in_context``: a bare repost ("转发微博", or only the ``//@`` chain) says what its original
    says -- negative only when the crisis's original reads negative -- rather than whatever the
    model reads in those four characters (the bundled model: 0.66, a "negative voice")."""
    roots: dict[str, float] = {}
    if in_context:
        for record, sp in zip(records, scored, strict=True):
            label = record.get("label") or {}
            if label.get("phase") == "crisis" and sp.post.repost_of is None:
                roots[label["incident"]] = sp.negative
    voices: dict[str, set[str]] = defaultdict(set)
    reached: list[float] = []
    for record, sp in sorted(zip(records, scored, strict=True), key=lambda x: x[1].post.created_at):
        label = record.get("label") or {}
        inc = label.get("incident")
        negative = sp.negative
        if in_context and sp.post.repost_of is not None and is_bare_repost(sp.post.text):
            negative = roots.get(inc or "", 0.0)
        if label.get("phase") != "crisis" or not inc or negative < 0.65:
            continue
        authors = voices[inc]
        if len(authors) < k:
            authors.add(sp.post.author.id if sp.post.author else sp.post.id)
            if len(authors) == k:
                reached.append(sp.post.created_at.timestamp())
    return sorted(reached)


def run_reference(times: Sequence[float], kind: str) -> list[float]:
    """Alert times of a volume-only reference detector over post times (sorted)."""
    start, end = times[0], times[-1]
    alerts: list[float] = []
    hold_until = -math.inf
    t = start - start % STEP + STEP
    hour_counts: dict[int, int] = defaultdict(int)
    for ts in times:
        hour_counts[int(ts // 3600)] += 1
    step = 60.0 if kind == "30/10min" else STEP
    while t <= end:
        last_hour = bisect.bisect_left(times, t) - bisect.bisect_left(times, t - 3600)
        h = int(t // 3600)
        if kind == "30/10min":
            fire = bisect.bisect_left(times, t) - bisect.bisect_left(times, t - 600) >= 30
        elif kind == "mean+3sd":
            seen = [x for x in range(h - 14 * 24, h) if x * 3600 >= start]
            if len(seen) >= 24:
                hist = [hour_counts.get(x, 0) for x in seen]
                mean, sd = statistics.fmean(hist), statistics.pstdev(hist)
                fire = last_hour > mean + 3 * sd and last_hour >= 5
            else:
                fire = False
        else:
            prev = bisect.bisect_left(times, t - 3600) - bisect.bisect_left(times, t - 13 * 3600)
            fire = t - start >= 13 * 3600 and last_hour >= 20 and last_hour >= 2 * prev / 12
        if fire and t >= hold_until:
            alerts.append(t)
            hold_until = t + HOLD
        t += step
    return alerts


def evaluate(
    alerts: Sequence[tuple[Any, ...]],
    incs: list[Incident],
    days: float,
    engine: bool,
    owner: dict[str, str] | None = None,
) -> Result:
    """``alerts``: (time, level[, fastest story]); for the engine level >= 2 counts, for references any alert.

    With ``owner`` (post id -> incident), an engine transition belongs to the incident whose
    post started its fastest story (the real-cascade suite: a cascade trickles on for days,
    so a time window alone would blame a decoy for whatever else happens in its three days);
    without, to every incident it falls in the time of."""
    res = Result(days=days)

    def belongs(a: tuple[Any, ...], inc: Incident) -> bool:
        if not inc.onset <= a[0] <= inc.last + GRACE and not (owner is not None and inc.phase == "decoy"):
            return False
        return owner is None or (len(a) > 2 and owner.get(a[2] or "") == inc.id)

    hits = [a for a in alerts if (a[1] >= 2 if engine else True)]
    # engine: count escalations into >= yellow, not every step inside one alert
    if engine:
        hits = []
        prev = 0
        for a in alerts:
            if a[1] >= 2 and prev < 2:
                hits.append(a)
            prev = a[1]
    for inc in incs:
        window = [a[0] for a in alerts if belongs(a, inc) and (a[1] >= 2 or not engine)]
        if inc.phase == "crisis":
            res.crises += 1
            if window:
                res.detected += 1
                res.delays.append(min(window) - inc.onset)
        else:
            res.decoys += 1
            if window:
                res.decoys_escalated += 1
    for a in hits:
        if not any(belongs(a, inc) for inc in incs):
            res.false_alarms += 1
    return res


def merge(results: list[Result]) -> Result:
    out = Result()
    for r in results:
        out.detected += r.detected
        out.crises += r.crises
        out.delays += r.delays
        out.false_alarms += r.false_alarms
        out.decoys += r.decoys
        out.decoys_escalated += r.decoys_escalated
        out.days += r.days
    return out


def _fmt_delay(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min"


def perf(posts: int) -> None:
    """Throughput of the engine alone (CPU time, one core) and of ``run_backtest`` end to end."""
    import io

    from sentinel.backtest import run_backtest
    from sentinel.config import config_from_dict

    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC8)
    records: list[dict[str, Any]] = []
    for record in generate("kol", start=start, seed=0, days=4, volume=6000):
        records.append(record)
        if len(records) >= posts:
            break
    scored = score_posts(records)
    for batch in (256, 1):
        engine = Engine([WatchConfig(name="brand", query="艾克美 OR ACME")], EngineOptions())
        cpu, wall = time.process_time(), time.perf_counter()
        for k in range(0, len(scored), batch):
            chunk = scored[k : k + batch]
            engine.observe(chunk)
            engine.evaluate(chunk[-1].post.created_at)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"engine, observe batches of {batch:>3}: {len(scored) / cpu:,.0f} posts/s CPU time, "
            f"{len(scored) / wall:,.0f} posts/s wall"
        )
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    config = config_from_dict(
        {"classifier": {"type": "lexicon"}, "watch": [{"name": "brand", "query": "艾克美 OR ACME"}]}
    )
    cpu, wall = time.process_time(), time.perf_counter()
    run_backtest(config, lines, io.StringIO())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"run_backtest (parse + lexicon + engine): {len(lines) / cpu:,.0f} posts/s CPU time, "
        f"{len(lines) / wall:,.0f} posts/s wall"
    )


def run_set(
    scenario: str, seeds: Sequence[int], days: float, volume: float, query: str, verbose: bool = False
) -> tuple[dict[str, Result], int, float]:
    """Every detector over the streams of ``seeds``: merged results, posts, engine CPU seconds."""
    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC8)
    by_detector: dict[str, list[Result]] = defaultdict(list)
    posts_total, engine_seconds = 0, 0.0
    for seed in seeds:
        records = list(
            generate(scenario, start=start + timedelta(days=seed), seed=seed, days=days, volume=volume)
        )
        scored = score_posts(records)
        incs = incidents(records)
        transitions, secs = run_engine(scored, query)
        posts_total += len(scored)
        engine_seconds += secs
        by_detector["sentinel"].append(evaluate(transitions, incs, days, engine=True))
        times = sorted(sp.post.created_at.timestamp() for sp in scored)
        for kind in ("mean+3sd", "hour/12h"):
            alerts = [(t, 1) for t in run_reference(times, kind)]
            by_detector[kind].append(evaluate(alerts, incs, days, engine=False))
        floor = [(t, 1) for t in voice_floor(records, scored)]
        by_detector["3rd voice"].append(evaluate(floor, incs, days, engine=False))
        if verbose:
            for inc in incs:
                levels = [lvl for t, lvl, _ in transitions if inc.onset <= t <= inc.last + GRACE]
                first = next((t for t, lvl, _ in transitions if inc.onset <= t and lvl >= 2), None)
                print(
                    f"seed {seed} {inc.id:28s} max level {max(levels, default=0)} "
                    f"delay {_fmt_delay(None if first is None else first - inc.onset)}",
                    file=sys.stderr,
                )
            stray = [
                (datetime.fromtimestamp(t, UTC8).isoformat(), lvl)
                for t, lvl, _ in transitions
                if not any(i.onset <= t <= i.last + GRACE for i in incs)
            ]
            if stray:
                print(f"seed {seed} transitions outside incidents: {stray}", file=sys.stderr)
    return {name: merge(results) for name, results in by_detector.items()}, posts_total, engine_seconds


REFERENCES = ("mean+3sd", "hour/12h", "30/10min")


def detect_all(
    records: Sequence[dict[str, Any]],
    scored: Sequence[ScoredPost],
    incs: list[Incident],
    days: float,
    query: str,
) -> tuple[dict[str, Result], list[tuple[float, int]], float]:
    """The engine, the reference detectors and the 3rd-voice floor over one stream."""
    transitions, secs = run_engine(scored, query)
    owner = {
        r["id"]: r["label"]["incident"] for r in records if r["label"].get("phase") in ("crisis", "decoy")
    }
    out = {"sentinel": evaluate(transitions, incs, days, engine=True, owner=owner)}
    times = sorted(sp.post.created_at.timestamp() for sp in scored)
    for kind in REFERENCES:
        out[kind] = evaluate([(t, 1) for t in run_reference(times, kind)], incs, days, engine=False)
    out["3rd voice"] = evaluate([(t, 1) for t in voice_floor(records, scored)], incs, days, engine=False)
    in_context = voice_floor(records, scored, in_context=True)
    out["3rd voice, in context"] = evaluate([(t, 1) for t in in_context], incs, days, engine=False)
    return out, transitions, secs


def run_real(halves: Sequence[str], streams: int, verbose: bool = False) -> dict[str, dict[str, Result]]:
    """Every detector over the real-cascade suite (bench/realsuite.py), merged per half."""
    import realsuite

    by_half: dict[str, dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    posts_total, engine_seconds = 0, 0.0
    variant = {
        ("fast-start",): "fast",
        ("person-read",): "person",
        ("viral/tuning", "viral/held-out"): "viral",
    }.get(tuple(halves), "suite")
    for index, half, recs in realsuite.records(streams, variant=variant):
        if half not in halves:
            continue
        scored = realsuite.scored(recs)
        incs = incidents(recs, tail=0.95)
        brand = recs[0]["label"] and _brand_of(recs)
        results, transitions, secs = detect_all(recs, scored, incs, 30.0, brand)
        posts_total += len(scored)
        engine_seconds += secs
        # the fast-start check's bar (realsuite.FAST_START posts in its first FAST_WINDOW seconds)
        fast = _first_posts(recs, incs, realsuite.FAST_WINDOW) >= realsuite.FAST_START
        start = "fast start" if fast else "slow start"
        read = _person_reads(variant, index)
        for name, res in results.items():
            by_half[half][name].append(res)
            by_half[f"{half}, {start}"][name].append(res)
            if read is not None:
                by_half[f"{half}; {read}"][name].append(res)
        if verbose:
            _explain(f"stream {index:2d} ({half}, {brand})", transitions, incs, results)
    print(
        f"engine: {posts_total} posts, {engine_seconds:.1f} CPU s ({posts_total / max(engine_seconds, 1e-9):,.0f} posts/s)",
        file=sys.stderr,
    )
    return {h: {name: merge(rs) for name, rs in d.items()} for h, d in by_half.items()}


PERSON_READ = Path(__file__).resolve().parent.parent / "tests" / "data" / "realsuite_crisis_reactions.jsonl"
CRISIS_TONE = 0.45  # the suite's bar: a crisis's worded reactions at least this negative


def _person_reads(variant: str, index: int) -> str | None:
    """How a person reads the stream's crisis: its first 30 worded reactions, hand-labelled
    (tests/data/realsuite_crisis_reactions.jsonl), at least CRISIS_TONE negative or not -- the
    suite's bar for a crisis, which the bundled model applied when it dealt the suite."""
    import realsuite

    if variant != "suite" or not PERSON_READ.is_file():
        return None
    share = realsuite.negative_shares(PERSON_READ, "stream").get(index)
    if share is None:
        return None
    return "a person reads a crisis" if share >= CRISIS_TONE else "a person reads it calmer"


def _split_table(
    by_half: dict[str, dict[str, Result]], title: str, sep: str, detectors: Sequence[str]
) -> None:
    """Crises caught and median delay per detector, for the keys of ``by_half`` holding ``sep``."""
    names = " | ".join("sentinel: caught, median" if n == "sentinel" else n for n in detectors)
    print(f"| {title} | streams | {names} |\n|---|---|" + "---|" * len(detectors))
    for key in sorted(k for k in by_half if sep in k):
        r = by_half[key]
        cells = [
            f"{r[n].detected}/{r[n].crises}, {_fmt_delay(statistics.median(r[n].delays) if r[n].delays else None)}"
            for n in detectors
        ]
        print(f"| {key} | {r['sentinel'].crises} | " + " | ".join(cells) + " |")


def _first_posts(records: Sequence[dict[str, Any]], incs: Sequence[Incident], window: float) -> int:
    """The stream's crisis's own posts within ``window`` seconds of its first."""
    crisis = next(i for i in incs if i.phase == "crisis")
    return sum(
        1
        for r in records
        if (r.get("label") or {}).get("incident") == crisis.id
        and datetime.fromisoformat(r["created_at"]).timestamp() <= crisis.onset + window
    )


def _brand_of(recs: Sequence[dict[str, Any]]) -> str:
    from sentinel.simulate.cascades import BRANDS

    text = next(r["text"] for r in recs if r["label"]["phase"] == "crisis")
    return next(b for b in BRANDS if b in text)


def _explain(
    name: str,
    transitions: list[tuple[float, int, str | None]],
    incs: list[Incident],
    results: dict[str, Result],
) -> None:
    for inc in incs:
        own = [
            (t, lvl) for t, lvl, story in transitions if story is not None and story.startswith(inc.id + "-")
        ]
        levels = [lvl for t, lvl in own]
        first = next((t for t, lvl in own if lvl >= 2), None)
        print(
            f"{name} {inc.id:28s} max level {max(levels, default=0)} "
            f"delay {_fmt_delay(None if first is None else first - inc.onset)}",
            file=sys.stderr,
        )
    floor = results["3rd voice"].delays
    in_context = results["3rd voice, in context"].delays
    refs = {k: results[k].delays for k in REFERENCES}
    print(
        f"{name} floor {[round(d / 60, 1) for d in floor]} in context {[round(d / 60, 1) for d in in_context]} refs { {k: [round(d / 60, 1) for d in v] for k, v in refs.items()} }",
        file=sys.stderr,
    )
    stray = [
        (datetime.fromtimestamp(t, UTC8).isoformat(timespec="minutes"), lvl, story)
        for t, lvl, story in transitions
        if lvl >= 2 and not any(story is not None and story.startswith(i.id + "-") for i in incs)
    ]
    if stray:
        print(f"{name} >= yellow outside incidents: {stray}", file=sys.stderr)


def table(
    results: dict[str, Result],
    names: Sequence[str] = ("sentinel", *REFERENCES, "3rd voice", "3rd voice, in context"),
) -> None:
    print(
        "| detector | crises ≥ yellow (refs: any alert) | median delay | worst delay | false alarms / 30 d | decoys escalated |"
    )
    print("|---|---|---|---|---|---|")
    for name in names:
        r = results[name]
        med = statistics.median(r.delays) if r.delays else None
        worst = max(r.delays) if r.delays else None
        fa = r.false_alarms * 30.0 / r.days if r.days else 0.0
        print(
            f"| {name} | {r.detected}/{r.crises} | {_fmt_delay(med)} | {_fmt_delay(worst)} | {fa:.2f} "
            f"| {r.decoys_escalated}/{r.decoys} |"
        )


# the runs behind docs/risk.md "Evaluation": (name, scenario, seeds, days, volume)
SUITE: tuple[tuple[str, str, tuple[int, ...], float, float], ...] = (
    ("default volume", "month", (0, 1, 2, 3, 4), 30.0, 40.0),
    ("small brand", "month", (5, 6), 30.0, 8.0),
    ("small brand, more seeds", "month", (7, 8, 9), 30.0, 8.0),
    ("large brand", "month", (0,), 30.0, 400.0),
    ("background", "background", (0,), 90.0, 40.0),
    ("background, small", "background", (0,), 90.0, 8.0),
    ("background, large", "background", (0,), 60.0, 400.0),
)


def suite(query: str) -> None:
    """Every target on every run of the suite: one line each."""
    print(
        "| run | crises ≥ yellow | median delay (better reference) | ratio (target ≤ 0.5) "
        "| false alarms / 30 d (target ≤ 1) | decoys above blue (target 0) | 3rd voice (ratio) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, scenario, seeds, days, volume in SUITE:
        started = time.perf_counter()
        results, _, _ = run_set(scenario, seeds, days, volume, query)
        r = results["sentinel"]
        med = statistics.median(r.delays) if r.delays else None
        refs = [
            (statistics.median(results[k].delays), k)
            for k in ("mean+3sd", "hour/12h")
            if results[k].delays and results[k].detected
        ]
        best = min(refs) if refs else None
        ratio = "-" if med is None or best is None else f"{med / best[0]:.2f}"
        ref = "-" if best is None else f"{best[0] / 60:.1f} min, {best[1]}"
        fa = r.false_alarms * 30.0 / r.days if r.days else 0.0
        floor = results["3rd voice"].delays
        floor_med = statistics.median(floor) if floor else None
        floor_ratio = "" if floor_med is None or best is None else f" ({floor_med / best[0]:.2f})"
        print(
            f"| {name} (seeds {' '.join(map(str, seeds))}, volume {volume:g}) | {r.detected}/{r.crises} "
            f"| {_fmt_delay(med)} ({ref}) | {ratio} | {fa:.2f} | {r.decoys_escalated}/{r.decoys} "
            f"| {_fmt_delay(floor_med)}{floor_ratio} |",
            flush=True,
        )
        print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--scenario", default="month")
    ap.add_argument("--query", default="艾克美 OR ACME")
    ap.add_argument("--volume", type=float, default=40.0, help="background posts/hour at the daily peak")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--perf", type=int, metavar="POSTS", help="measure throughput on POSTS posts instead")
    ap.add_argument("--suite", action="store_true", help="every target on every run of docs/risk.md")
    ap.add_argument(
        "--real",
        choices=("tuning", "held-out", "both", "fast-start", "person-read", "viral"),
        help="the real-cascade suite's halves, or its fast-start, person-read or viral-decoy check (scored, never tuned on)",
    )
    ap.add_argument("--streams", type=int, default=40, help="streams in the real-cascade suite")
    ap.add_argument("--risk", type=json.loads, default={}, help="[risk] options as JSON, for trials")
    args = ap.parse_args(argv)
    RISK_OPTIONS.update(args.risk)
    if args.real:
        halves: tuple[str, ...] = {
            "both": ("tuning", "held-out"),
            "viral": ("viral/tuning", "viral/held-out"),
        }.get(args.real, (args.real,))
        import realsuite

        by_half = run_real(halves, args.streams, args.verbose)
        for half in sorted(halves, reverse=True):
            print(f"\n{half} half ({by_half[half]['sentinel'].crises} streams)\n")
            table(by_half[half])
        print(
            f"\nby how the crisis starts (fast: >= {realsuite.FAST_START} of its posts in its first "
            f"{realsuite.FAST_WINDOW / 60:.0f} minutes)\n"
        )
        _split_table(by_half, "half, start", ", ", ("sentinel", "30/10min", "hour/12h", "3rd voice"))
        if any("; " in k for k in by_half):
            print(
                f"\nby how a person reads the crisis's first 30 worded reactions (a crisis: >= {CRISIS_TONE:.0%} negative)\n"
            )
            _split_table(by_half, "half; read", "; ", ("sentinel", "hour/12h", "3rd voice"))
        return 0
    if args.perf:
        perf(args.perf)
        return 0
    if args.suite:
        suite(args.query)
        return 0
    results, posts_total, engine_seconds = run_set(
        args.scenario, args.seeds, args.days, args.volume, args.query, args.verbose
    )
    table(results, ("sentinel", "mean+3sd", "hour/12h", "3rd voice"))
    print(
        f"\nengine: {posts_total} posts, {engine_seconds:.1f} CPU s observe+evaluate "
        f"({posts_total / max(engine_seconds, 1e-9):,.0f} posts/s, lexicon scoring excluded)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
