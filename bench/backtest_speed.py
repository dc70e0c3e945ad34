"""``sentinel backtest`` speed and memory on a one-million-post replay.

    python bench/backtest_speed.py --posts 1000000 --classifier transformer lexicon
    python bench/backtest_speed.py --posts 200000 --distinct 1.0       # every text new

Writes (once, then reuses) a labelled ``sentinel simulate scenario --name month`` stream of
``--posts`` posts (30 days, the background volume scaled to reach that count), then runs the
real command line, ``sentinel backtest --config … --input … --output …``, once per
classifier, each in a fresh process, and reports posts per second (wall and the process's
own CPU time), peak RSS of that process, how many texts the classifier actually saw (the
rest came from the classification cache), and the load average around the run (the
machine is shared: wall numbers under load are pessimistic).

``--distinct F`` makes a fraction F of the posts carry a text never seen before (a short
unique tail), to measure what the cache cannot help with: simulated streams repeat their
templates far more than real Weibo does (see docs/risk.md, "Backtest speed").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sentinel.clock import UTC8
from sentinel.simulate.scenario import generate

ROOT = Path(__file__).resolve().parents[1]
QUERY = "艾克美 OR ACME"
# posts per 30 days per unit of background volume, measured on seeds 0-4 (month scenario)
_POSTS_PER_VOLUME = 520.0
_INCIDENT_POSTS = 24_000.0
_TAIL = "的了是我你他她好在有不人这也就都还吗呢吧啊哈嗯哦"


def stream_path(posts: int, distinct: float, seed: int) -> Path:
    return ROOT / "var" / "bench" / f"backtest-{posts}-d{distinct:g}-s{seed}.jsonl"


def records(posts: int, distinct: float, seed: int) -> Iterator[dict[str, Any]]:
    """The first ``posts`` posts of a 30-day month stream sized to hold at least that many."""
    volume = max(40.0, (posts - _INCIDENT_POSTS) / _POSTS_PER_VOLUME * 1.05)
    rng = random.Random(seed)
    n = 0
    for record in generate("month", start=datetime(2026, 11, 2, tzinfo=UTC8), seed=seed, volume=volume):
        if distinct and rng.random() < distinct:
            # a short unique tail: a new text for the classifier, the same words for the engine
            tail = "".join(rng.choice(_TAIL) for _ in range(4))
            record["text"] = f"{record['text']} {tail}{n}"
        yield record
        n += 1
        if n >= posts:
            return


def write_stream(path: Path, posts: int, distinct: float, seed: int) -> dict[str, float]:
    """Write the stream; return its duplicate-text share (what a text cache can save)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    texts: set[str] = set()
    n = 0
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as out:
        for record in records(posts, distinct, seed):
            texts.add(record["text"])
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    tmp.rename(path)
    return {"posts": n, "distinct_texts": len(texts), "duplicate_share": 1 - len(texts) / max(n, 1)}


def _tree_rss(pid: int) -> tuple[int, int]:
    """Resident KiB of ``pid`` and its descendants (the classifier worker), from /proc: the
    sum, and the largest single process."""
    total = largest = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            total += rss
            largest = max(largest, rss)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total, largest


class _PeakRss(threading.Thread):
    """Samples a process tree's resident memory every 0.2 s: ``peak`` is the largest sum,
    ``largest`` the largest single process. (Not ``ru_maxrss``: Linux carries a parent's
    resident size across fork and exec into the child's, so after this script has written a
    million-post stream the backtest would report this script's peak as its own.)"""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.largest = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            total, largest = _tree_rss(self.pid)
            self.peak = max(self.peak, total)
            self.largest = max(self.largest, largest)


def run_backtest(stream: Path, classifier: str, workdir: Path, model: str | None = None) -> dict[str, Any]:
    """One ``sentinel backtest`` in a fresh process: wall, CPU, peak RSS, its summary."""
    config = workdir / f"{classifier}.toml"
    model_line = f"model = {json.dumps(model)}\n" if model and classifier == "transformer" else ""
    config.write_text(
        f'[classifier]\ntype = "{classifier}"\n{model_line}\n[[watch]]\nname = "brand"\nquery = "{QUERY}"\n',
        encoding="utf-8",
    )
    output = workdir / f"alerts-{classifier}.jsonl"
    cmd = [
        sys.executable,
        "-c",
        "from sentinel.cli import main; main()",
        "backtest",
        "--config",
        str(config),
        "--input",
        str(stream),
        "--output",
        str(output),
    ]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    sampler = _PeakRss(proc.pid)
    sampler.start()
    stderr = proc.stderr.read().decode() if proc.stderr else ""  # the summary, at the end
    _, status, usage = os.wait4(proc.pid, 0)
    sampler.done.set()
    sampler.join()
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"sentinel backtest failed ({proc.returncode}):\n{stderr}")
    posts = int(re.search(r"posts: (\d+)", stderr).group(1))  # type: ignore[union-attr]
    classified = re.search(r"classified: (\d+) texts", stderr)
    worker = re.search(r"worker CPU: ([\d.]+) s", stderr)
    cpu = usage.ru_utime + usage.ru_stime  # the backtest and its worker process together
    worker_cpu = float(worker.group(1)) if worker else 0.0
    # on two otherwise idle cores the two processes overlap: the busier one sets the pace
    paced = max(cpu - worker_cpu, worker_cpu)
    return {
        "classifier": classifier,
        "posts": posts,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "worker_cpu_s": round(worker_cpu, 1),
        "posts_per_s_wall": round(posts / wall),
        "posts_per_s_cpu": round(posts / max(cpu, 1e-9)),
        "posts_per_s_2_idle_cores": round(posts / max(paced, 1e-9)),
        "peak_rss_mb": round(sampler.largest / 1024),  # the largest single process
        "peak_rss_tree_mb": round(sampler.peak / 1024),  # the backtest and its worker together
        "classified": int(classified.group(1)) if classified else None,
        "events": sum(1 for _ in output.open(encoding="utf-8")),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "summary": stderr.strip().splitlines()[-7:],
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--distinct", type=float, default=0.0, help="share of posts given a never-seen text")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classifier", nargs="+", default=["transformer", "lexicon"])
    ap.add_argument("--model", help="transformer model directory (default: the configured default)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON lines too")
    args = ap.parse_args(argv)
    stream = stream_path(args.posts, args.distinct, args.seed)
    if not stream.exists():
        started = time.perf_counter()
        info = write_stream(stream, args.posts, args.distinct, args.seed)
        print(
            f"wrote {stream} in {time.perf_counter() - started:.0f} s: {info['posts']:.0f} posts, "
            f"{info['distinct_texts']:.0f} distinct texts (duplicate-text share {info['duplicate_share']:.1%})",
            file=sys.stderr,
        )
    print(f"stream: {stream} ({stream.stat().st_size / 2**20:.0f} MiB), {os.cpu_count()} CPUs")
    print(
        "| classifier | posts | wall | posts/s (wall) | CPU s (main + worker) | posts/s on 2 idle cores "
        "| peak RSS (largest process / all) | texts classified | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for classifier in args.classifier:
            r = run_backtest(stream, classifier, Path(tmp), args.model)
            classified = "-" if r["classified"] is None else f"{r['classified']:,}"
            print(
                f"| {classifier} | {r['posts']:,} | {r['wall_s']} s | {r['posts_per_s_wall']:,} "
                f"| {r['cpu_s'] - r['worker_cpu_s']:.0f} + {r['worker_cpu_s']:.0f} "
                f"| {r['posts_per_s_2_idle_cores']:,} | {r['peak_rss_mb']} / {r['peak_rss_tree_mb']} MB | {classified} "
                f"| {r['load_before']} → {r['load_after']} |",
                flush=True,
            )
            if args.json:
                print(json.dumps(r, ensure_ascii=False), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
