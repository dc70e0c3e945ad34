"""Where an alert's time goes: bench/e2e.py's served → notified split into the daemon's stages.

``run`` runs bench/e2e.py (any tree's: ``--tree``) with the stage probe of bench/stages/ in the
daemon and the received alerts recorded here; ``report`` joins the two per alert event:

    python bench/e2e_stages.py run --out /tmp/st/main-1 -- ramp --rates 750 --step 150 \\
        --warmup 20 --brands 30 --crisis-every 12
    python bench/e2e_stages.py report /tmp/st/main-1 [/tmp/st/main-2 ...]

For each opened/escalated event of the judged window (the bench's own served → notified):

* **A** post → tick: the newest post of the watch written before the tick time ``at``;
* **B** tick → evaluation: until the risk engine's evaluation that crossed ``at`` began (it is
  called after each stored batch, so it waits for the batch in flight at ``at``);
* **C1** ingest: the tick takes in the posts created since the last one (ten seconds of them);
* **C2** scoring: every watch scored, levels stepped, the events built;
* **D** save: annotate, store the events with their outbox rows, wake delivery;
* **E** → send: the delivery worker picks the row up (read, claim);
* **F** send: the HTTP post until the bench's receiver has it.

Also per run: full collections of the garbage collector and stalls of the event loop.
"""

from __future__ import annotations

import argparse
import bisect
import glob
import json
import os
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
STAGES = ("A post->tick", "B tick->evaluate", "C1 ingest", "C2 scoring", "D save", "E ->send", "F send")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# -- run ---------------------------------------------------------------------------------------

_RECEIVED_HOOK = """
import atexit, json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "bench"))
import e2e
received = []
seen = e2e.Bench._newest_seen
def newest_seen(self, at_received, ev):
    seen(self, at_received, ev)
    newest = self.newest_seen.get((ev.get("id"), ev.get("watch"), ev.get("at")))
    received.append({"received": at_received, "watch": ev.get("watch"), "event": ev.get("event"),
                     "at": ev.get("at"), "newest": newest})
e2e.Bench._newest_seen = newest_seen
def dump():
    with open(os.path.join(os.environ["SENTINEL_PROBE"], "received.jsonl"), "w") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\\n" for r in received)
atexit.register(dump)
e2e.main(sys.argv[2:])
"""


def run(tree: Path, out: Path, e2e_args: list[str]) -> int:
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SENTINEL_PROBE": str(out),
        # the probe first; then the tree's package (the virtual environment's editable install
        # would otherwise win for another tree)
        "PYTHONPATH": os.pathsep.join([str(BENCH / "stages"), str(tree / "src")]),
    }
    args = [sys.executable, "-c", _RECEIVED_HOOK, str(tree), *e2e_args, "--out", str(out / "result.json")]
    return subprocess.call(args, env=env)


# -- report ------------------------------------------------------------------------------------


def load(run_dir: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    result = json.loads(Path(run_dir, "result.json").read_text(encoding="utf-8"))
    received = [json.loads(line) for line in Path(run_dir, "received.jsonl").read_text().splitlines()]
    probe: list[dict[str, Any]] = []
    for path in glob.glob(os.path.join(run_dir, "probe-*.jsonl")):
        probe += [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return result, received, probe


def stages(
    received: list[dict[str, Any]], probe: list[dict[str, Any]], window: list[float]
) -> list[dict[str, float]]:
    """One row per opened/escalated event of the bench's watches decided inside ``window``."""
    by_event: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in probe:
        for watch, event, at in r.get("events") or ():
            by_event.setdefault((r["k"], watch, event, round(at, 3)), r)
    ticks = {round(r["t"], 3): r for r in probe if r["k"] == "tick"}
    wakes = sorted(r["t"] for r in probe if r["k"] == "wake")
    rows = []
    for ev in received:
        if ev["event"] not in ("opened", "escalated") or ev["newest"] is None:
            continue
        at = datetime.fromisoformat(ev["at"]).timestamp()
        if not window[0] <= at < window[1]:
            continue
        key = (ev["watch"], ev["event"], round(at, 3))
        evaluation, send, tick = by_event.get(("eval", *key)), by_event.get(("send", *key)), ticks.get(key[2])
        i = bisect.bisect_left(wakes, evaluation["t1"]) if evaluation else len(wakes)
        if evaluation is None or send is None or tick is None or i == len(wakes):
            continue
        rows.append(
            {
                "total": ev["received"] - ev["newest"],
                "A post->tick": at - ev["newest"],
                "B tick->evaluate": evaluation["t0"] - at,
                "C1 ingest": tick["t0"] - evaluation["t0"],
                "C2 scoring": evaluation["t1"] - evaluation["t0"] - (tick["t0"] - evaluation["t0"]),
                "D save": wakes[i] - evaluation["t1"],
                "E ->send": send["t0"] - wakes[i],
                "F send": ev["received"] - send["t0"],
                "tick cpu": evaluation.get("cpu", float("nan")),
                "posts ingested": evaluation["ingested"],
            }
        )
    return rows


def summarise(run_dir: str) -> dict[str, Any]:
    result, received, probe = load(run_dir)
    step = result["steps"][0]
    w0, w1 = step["window"]
    rows = stages(received, probe, step["window"])
    inside = [r for r in probe if w0 <= r.get("t0", r.get("t", 0.0)) < w1]
    full = [r["t1"] - r["t0"] for r in inside if r["k"] == "gc" and r["gen"] == 2]
    stalls = [r["s"] for r in inside if r["k"] == "stall"]
    census = next((r for r in probe if r["k"] == "census"), {})
    lat = step["alerts"]["served_to_notified"]
    return {
        "run": os.path.basename(run_dir.rstrip("/")),
        "p50": lat["p50"],
        "p95": lat["p95"],
        "n": lat["n"],
        "joined": len(rows),
        "cpu": step["cpu_cores"],
        "load": step["load_avg_1m"],
        "kept_up": step["kept_up"],
        "stages": {k: quantile([r[k] for r in rows], 0.5) for k in (*STAGES, "tick cpu", "posts ingested")},
        "full_gc": {"n": len(full), "median_s": quantile(full, 0.5), "max_s": max(full, default=0.0)},
        "stalls": {"n": len(stalls), "max_s": max(stalls, default=0.0)},
        "objects_at_start": census.get("objects"),
        "frozen": census.get("frozen"),
    }


def report(run_dirs: list[str]) -> None:
    runs = [summarise(d) for d in run_dirs]
    for r in runs:
        s = r["stages"]
        print(
            f"{r['run']}: served→notified p50 {r['p50']:.2f} s, p95 {r['p95']:.2f} s (n={r['n']}, joined "
            f"{r['joined']}), cpu {r['cpu']:.2f}, load {r['load'][0]:.1f}–{r['load'][1]:.1f}, kept up {r['kept_up']}"
        )
        print("  stage p50 ms: " + ", ".join(f"{k} {s[k] * 1e3:.0f}" for k in STAGES)
              + f"; tick cpu {s['tick cpu'] * 1e3:.0f} ms for {s['posts ingested']:.0f} posts")  # fmt: skip
        print(
            f"  full collections {r['full_gc']['n']} (median {r['full_gc']['median_s']:.2f} s, max "
            f"{r['full_gc']['max_s']:.2f} s); loop stalls > 20 ms {r['stalls']['n']} (max {r['stalls']['max_s']:.2f} s); "
            f"objects at start {r['objects_at_start']}, frozen {r['frozen']}"
        )
    if len(runs) > 1:

        def span(values: list[float]) -> str:
            return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"

        print(
            f"{len(runs)} runs: p50 {span([r['p50'] for r in runs])}, p95 {span([r['p95'] for r in runs])}, "
            f"cpu {span([r['cpu'] for r in runs])}"
        )
        print("  stage p50 ms, median over runs: " + ", ".join(
            f"{k} {statistics.median(r['stages'][k] for r in runs) * 1e3:.0f}" for k in STAGES))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="bench/e2e.py with the stage probe")
    r.add_argument("--tree", type=Path, default=BENCH.parent, help="the checkout whose daemon and bench run")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("e2e", nargs=argparse.REMAINDER, help="-- then bench/e2e.py's arguments")
    p = sub.add_parser("report", help="stages per run, and over runs")
    p.add_argument("runs", nargs="+")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        e2e_args = args.e2e[1:] if args.e2e[:1] == ["--"] else args.e2e
        raise SystemExit(run(args.tree.resolve(), args.out.resolve(), e2e_args))
    report(args.runs)


if __name__ == "__main__":
    main()
