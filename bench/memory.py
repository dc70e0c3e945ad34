"""Memory of the risk engine alone, in event time, under tracemalloc.

The daemon's RSS mixes the model, SQLite's cache, the bus and the engine; this isolates the
engine: the same posts ``bench/e2e.py`` writes (its ``Load``: everyday chatter of
``--brands`` brands plus a crisis episode every ``--crisis-every`` s), parsed from JSON lines
as the daemon parses them, scored by the lexicon (cached per text), fed to
:class:`sentinel.risk.engine.Engine` one event-time second at a time. Every ``--every``
seconds of event time it reports the traced Python memory and the sizes of the engine's
structures (window entries, stories, remembered post keys).

    python bench/memory.py --rate 250 --duration 1800 --brands 8
    python bench/memory.py --rate 1500 --duration 900 --top 15      # where the bytes are

Runs at a few thousand posts/s under tracemalloc: 1,800 s at 250 posts/s take about a minute.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import Load

from sentinel.config import WatchConfig
from sentinel.nlp.base import sentiment_label
from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.post import ScoredPost, parse_post_json
from sentinel.risk.engine import Engine
from sentinel.risk.options import EngineOptions

__all__ = ["engine_sizes", "main"]

START_AT = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 in UTC+8
START = START_AT.timestamp()


def engine_sizes(engine: Engine) -> dict[str, int]:
    """How many of each thing the engine holds (what the bounded-memory tests assert on)."""
    stories = engine.stories
    return {
        "entries": sum(len(w.entries) for w in engine.watches),
        "voices_1h": sum(len(w.hour_voices) for w in engine.watches),
        "stories": len(stories),
        # (the fallback lets this bench run against commits before the index had caps)
        "post_keys": stories.posts if hasattr(stories, "posts") else len(stories._post_story),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = Load(Path(os.devnull), args.brands, args.speedup, seed=args.seed, start=START_AT)
    buf = io.StringIO()
    load.close()
    load._fh = buf  # the lines, not a file
    classifier = LexiconClassifier()
    cache: dict[str, tuple[float, str, dict[str, float]]] = {}
    options = EngineOptions(taxonomy="config/taxonomy.yaml", **json.loads(args.options))
    if args.trace:
        tracemalloc.start(args.frames)
    base = tracemalloc.get_traced_memory()[0] if args.trace else 0
    engine = Engine([WatchConfig(name=b, query=b) for b in load.brands], options)
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    next_crisis = START + 5.0
    for sec in range(int(args.duration)):
        now = START + sec
        if now >= next_crisis:
            load.start_episode(now)
            next_crisis = now + args.crisis_every
        load.write(now, int(args.rate * (sec + 1)))
        load.finished.clear()  # the bench's latency bookkeeping, not the engine's memory
        lines = buf.getvalue().splitlines()
        buf.seek(0)
        buf.truncate()
        posts = [parse_post_json(line) for line in lines]
        todo = [p.text for p in posts if p.text not in cache]
        for text, s in zip(todo, classifier.classify(todo), strict=True):
            cache[text] = (s.negative, sentiment_label(s.negative), dict(s.topics))
        scored = [ScoredPost(p, *cache[p.text][:2], dict(cache[p.text][2])) for p in posts]
        engine.observe(scored)
        for ev in engine.evaluate(datetime.fromtimestamp(now + 1, UTC)):
            events.append(ev.to_record())
        if (sec + 1) % args.every == 0:
            row: dict[str, Any] = {"t": sec + 1, "posts": load.written, **engine_sizes(engine)}
            if args.trace:
                row["traced_mib"] = round((tracemalloc.get_traced_memory()[0] - base) / 2**20, 1)
            row["wall_s"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result: dict[str, Any] = {"options": vars(args), "rows": rows, "load_avg": os.getloadavg()}
    if args.events:
        # every alert event with its samples: a change to the engine's memory layout must
        # leave these identical (compare two runs' files)
        Path(args.events).write_text(
            "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in events),
            encoding="utf-8",
        )
    # the growth per post once the short window is full (600 s): what an hour adds
    full = [r for r in rows if r["t"] >= options.short_window + 60]
    if args.trace and len(full) >= 2:
        a, b = full[0], full[-1]
        result["bytes_per_post_after_window"] = round(
            (b["traced_mib"] - a["traced_mib"]) * 2**20 / max(1, b["posts"] - a["posts"]), 1
        )
        result["mib_per_hour_at_rate"] = round(
            (b["traced_mib"] - a["traced_mib"]) / max(1, b["t"] - a["t"]) * 3600, 1
        )
    if args.trace and args.top:
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
        )
        result["top"] = [
            f"{s.size / 2**20:.1f} MiB {s.count} blocks {s.traceback[0].filename}:{s.traceback[0].lineno}"
            for s in snap.statistics("lineno")[: args.top]
        ]
        for line in result["top"]:
            print(line)
    tracemalloc.stop()
    del engine
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=250.0, help="posts per event-time second")
    p.add_argument("--duration", type=float, default=1800.0, help="event-time seconds")
    p.add_argument("--brands", type=int, default=8)
    p.add_argument("--speedup", type=float, default=4.0)
    p.add_argument("--crisis-every", type=float, default=30.0)
    p.add_argument("--every", type=int, default=150, help="report every N event-time seconds")
    p.add_argument("--options", default="{}", help="[risk] options as JSON, e.g. '{\"story_ttl\": 3600}'")
    p.add_argument("--top", type=int, default=0, help="print the N largest allocation sites at the end")
    p.add_argument("--frames", type=int, default=1)
    p.add_argument("--no-trace", dest="trace", action="store_false", help="sizes and speed only")
    p.add_argument("--events", default=None, help="write every alert event (JSONL) here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = run(args)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    summary = {k: result.get(k) for k in ("bytes_per_post_after_window", "mib_per_hour_at_rate", "load_avg")}
    print(json.dumps(summary))
    return result


if __name__ == "__main__":
    main()
