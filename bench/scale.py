"""Throughput of the scale-out path with 1 and 2 classifier worker processes.

Starts its own Mosquitto and PostgreSQL (the test helpers in tests/scale/support.py), then
for each worker count: starts the workers (``sentinel run --role classify``), publishes N
canonical posts through an in-process collector bus (QoS 1, PUBACK awaited), and times how
long until all N are classified and committed in PostgreSQL.

    python bench/scale.py --posts 20000 --workers 1 2 [--classifier lexicon]

Needs ``mosquitto`` and PostgreSQL binaries (``SENTINEL_TEST_PG_BIN`` or /usr/lib/postgresql/*/bin).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test helpers start the servers

from tests.scale.support import Broker, PgCluster, stream  # noqa: E402

from sentinel.bus.mqtt import MqttBus  # noqa: E402
from sentinel.config import BusConfig  # noqa: E402
from sentinel.post import parse_post  # noqa: E402


def _config(path: Path, broker: Broker, pg: PgCluster, classifier: str) -> Path:
    path.write_text(
        f"""
[storage]
url = "{pg.url}"
pool_size = 4
[bus]
type = "mqtt"
url = "{broker.url}"
batch_size = 256
[metrics]
enabled = false
[classifier]
type = "{classifier}"
[logging]
level = "WARNING"
""",
        encoding="utf-8",
    )
    return path


async def _count(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM posts"))
    finally:
        await conn.close()


async def _publish_and_wait(broker: Broker, pg: PgCluster, n: int) -> tuple[float, float]:
    posts = [parse_post(r) for r in stream(n)]
    bus = MqttBus(BusConfig(type="mqtt", url=broker.url, max_size=5000), role="collect")
    await bus.start()
    await bus.wait_connected()
    started = time.perf_counter()
    for p in posts:
        await bus.publish(p, "bench")
    await bus.drain()
    published = time.perf_counter() - started
    while True:
        if await _count(pg.url) >= n:
            break
        await asyncio.sleep(0.1)
    stored = time.perf_counter() - started
    await bus.close()
    return published, stored


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): what a worker costs per post."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(workers: int, n: int, classifier: str, pg_bin: str, workdir: Path) -> dict[str, float]:
    broker, pg = Broker(), PgCluster(pg_bin)
    broker.start()
    pg.init()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        cfg = _config(workdir / f"bench-{workers}.toml", broker, pg, classifier)
        subprocess.run(
            [sys.executable, "-m", "sentinel.cli", "db", "upgrade", "-c", str(cfg)],
            check=True,
            capture_output=True,
        )
        for k in range(workers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "sentinel.cli", "run", "-c", str(cfg), "--role", "classify"],
                    env={**os.environ, "SENTINEL_BUS__CLIENT_ID": f"bench-worker-{k}"},
                )
            )
        # let every worker subscribe first (posts would be held until one does), so that the
        # timing measures steady throughput
        time.sleep(8.0)
        before = sum(_cpu_seconds(p.pid) for p in procs)
        published, stored = asyncio.run(_publish_and_wait(broker, pg, n))
        cpu = sum(_cpu_seconds(p.pid) for p in procs) - before
        return {
            "worker_cpu_s": cpu,
            "posts_per_worker_cpu_s": n / cpu if cpu else 0.0,
            "workers": workers,
            "posts": n,
            "publish_per_s": n / published,
            "stored_per_s": n / stored,
            "seconds": stored,
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        broker.close()
        pg.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--classifier", default="lexicon", help="lexicon (fast) or transformer")
    args = parser.parse_args()
    pg_bin = os.environ.get("SENTINEL_TEST_PG_BIN") or sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    workdir = Path(os.environ.get("TMPDIR", "/tmp"))
    results = [run_once(w, args.posts, args.classifier, pg_bin, workdir) for w in args.workers]
    print(f"cpus: {os.cpu_count()}  classifier: {args.classifier}")
    for r in results:
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}))


if __name__ == "__main__":
    main()
