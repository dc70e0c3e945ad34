"""End-to-end throughput, alert latency, CPU and memory of the running daemon; and a soak.

Three processes on 127.0.0.1, the way a user runs sentinel:

* ``sentinel simulate serve`` (its real-time demo crisis, polled by a ``weibo`` source);
* ``sentinel run -c <bench/configs/embedded.toml filled in>`` (SQLite file, memory bus, the
  classifier chosen with ``--classifier``);
* this process: the load generator and a webhook receiver (``[[notify]] type = "webhook"``).

The load is JSONL appended to a file the daemon's ``file`` source follows (``poll = 0.05``):
appending a line costs the bench microseconds, so the figures are the daemon's, not the
simulator's (which re-filters its whole feed per request and is meant for correctness, not
for 1,000 posts/s). Content comes from the shared scenario generator: everyday chatter of
``--brands`` brands (one ``[[watch]]`` each) as filler, plus a crisis episode (the ``demo``
crisis, sped up ``--speedup`` times) on the next brand every ``--crisis-every`` seconds.
Every post is stamped ``created_at`` = the moment it is written.

Latency (alert): for each ``opened``/``escalated`` event that reaches the receiver,
``received - written`` of the newest post of that watch written before the event's tick
time ``at``: the risk engine decides at event-time ticks (``[risk] tick``) on every post
created before the tick, so this is the served→notified time of the last post the decision
saw. ``at → received`` and "first crisis post → opened" (time to detect, which includes
waiting for the tick and for enough evidence) are reported next to it.

    python bench/e2e.py ramp --rates 250 500 1000 1500 2000 --step 45
    python bench/e2e.py soak --rate 500 --duration 1800
    python bench/e2e.py ramp --rates 20 --step 10 --classifier lexicon   # smoke

Results: a JSON document (``--out``), and a summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sentinel.simulate.scenario import generate

__all__ = ["Load", "Receiver", "main"]

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"
UTC8 = timezone(timedelta(hours=8))
# distinct names, none a substring of another, none the simulator's 艾克美: one [[watch]] each
_PREFIXES = ("百味", "鲜果", "云朵", "星河", "青禾", "麦香", "蓝莓", "晨光", "松果", "海盐")
_SUFFIXES = ("园", "坊", "乳业", "咖啡", "食品", "村", "谷", "饮品", "零食", "工坊")
BRANDS = tuple(p + s for s in _SUFFIXES for p in _PREFIXES)[:60]
SIM_BRAND = "艾克美"
TABLES = ("posts", "classifications", "alerts", "alert_events", "outbox", "audit_log")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
    }


# -- the load ----------------------------------------------------------------------------------


@dataclass
class Episode:
    brand: str
    started: float
    posts: deque[tuple[float, dict[str, Any]]]  # (due, record), due ascending
    ids: dict[str, str] = field(default_factory=dict)
    first_written: float | None = None


class Load:
    """Writes canonical posts as JSON lines at a target rate; remembers what it wrote, per brand."""

    def __init__(
        self, path: Path, brands: int, speedup: float, seed: int = 0, start: datetime | None = None
    ) -> None:
        self.path = path
        self.brands = list(BRANDS[:brands])
        self.speedup = speedup
        self.rng = random.Random(seed)
        # the scenario's content depends on the hour it starts at (its daily rhythm): a fixed
        # start makes two runs of bench/memory.py see the same posts
        start = start or datetime.now(UTC)
        self.filler: list[tuple[str, dict[str, Any]]] = []
        self.crises: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        for i, brand in enumerate(self.brands):
            posts = list(generate("demo", start=start, seed=i, brand=brand))
            onset = None
            crisis: list[tuple[float, dict[str, Any]]] = []
            for p in posts:
                label = p.pop("label")
                if label["phase"] == "background":
                    self.filler.append((brand, p))
                else:
                    t = datetime.fromisoformat(p["created_at"]).timestamp()
                    onset = t if onset is None else onset
                    crisis.append(((t - onset) / speedup, p))
            self.crises[brand] = crisis
        self.seq = 0
        self.written = 0
        self.episodes: list[Episode] = []
        self.finished: list[Episode] = []
        self.next_brand = 0
        # per brand: created_at (= written) times of recent posts, for the latency lookup
        self.times: dict[str, deque[float]] = {b: deque() for b in self.brands}
        self._fh: TextIO = path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._fh.close()

    def start_episode(self, now: float) -> Episode:
        brand = self.brands[self.next_brand % len(self.brands)]
        self.next_brand += 1
        ep = Episode(brand, now, deque((now + dt, rec) for dt, rec in self.crises[brand]))
        self.episodes.append(ep)
        return ep

    def _line(self, record: dict[str, Any], now: float, ids: dict[str, str] | None) -> str:
        self.seq += 1
        new_id = str(7_000_000_000_000_000 + self.seq)
        rec = dict(record)
        if ids is not None:
            ids[record["id"]] = new_id
            parent = record.get("repost_of")
            rec["repost_of"] = ids.get(parent, parent) if parent else None
        else:
            rec["repost_of"] = None
        rec["id"] = new_id
        rec["url"] = f"https://m.weibo.cn/detail/{new_id}"
        rec["created_at"] = datetime.fromtimestamp(now, UTC8).isoformat(timespec="milliseconds")
        return json.dumps(rec, ensure_ascii=False)

    def write(self, now: float, target_total: int) -> int:
        """Write what crisis episodes have due, then filler up to ``target_total`` posts in all."""
        lines: list[str] = []
        for ep in self.episodes:
            while ep.posts and ep.posts[0][0] <= now:
                _, rec = ep.posts.popleft()
                lines.append(self._line(rec, now, ep.ids))
                self.times[ep.brand].append(now)
                if ep.first_written is None:
                    ep.first_written = now
        done = [ep for ep in self.episodes if not ep.posts]
        for ep in done:
            self.episodes.remove(ep)
            self.finished.append(ep)
        for _ in range(max(0, target_total - self.written - len(lines))):
            brand, rec = self.filler[self.rng.randrange(len(self.filler))]
            lines.append(self._line(rec, now, None))
            self.times[brand].append(now)
        if lines:
            self._fh.write("\n".join(lines) + "\n")
            self._fh.flush()
        self.written += len(lines)
        horizon = now - 120.0
        for q in self.times.values():
            while q and q[0] < horizon:
                q.popleft()
        return len(lines)

    def newest_before(self, brand: str, at: float) -> float | None:
        q = self.times.get(brand)
        if not q:
            return None
        i = bisect.bisect_left(q, at)
        return q[i - 1] if i > 0 else None

    def episode_for(self, brand: str, at: float) -> Episode | None:
        """The latest episode on ``brand`` that started before ``at``."""
        best = None
        for ep in [*self.finished, *self.episodes]:
            if ep.brand == brand and ep.first_written is not None and ep.first_written <= at:
                if best is None or ep.started > best.started:
                    best = ep
        return best


# -- the webhook receiver ----------------------------------------------------------------------


class Receiver:
    """A minimal HTTP/1.1 server (keep-alive) that records every alert event posted to it."""

    def __init__(self) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.on_event: Any = None  # called with (received, event) as each one arrives
        self.requests = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # connections are keep-alive: don't wait for the daemon to hang up
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                length = 0
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                received = time.time()
                self.requests += 1
                with contextlib.suppress(ValueError):
                    doc = json.loads(body)
                    for ev in doc.get("events") or [doc]:
                        self.events.append((received, ev))
                        if self.on_event is not None:
                            self.on_event(received, ev)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


# -- the processes -----------------------------------------------------------------------------


class Proc:
    """A child process with CPU, RSS and fd sampling from /proc (via psutil when installed)."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log.open("wb")
        self.popen = subprocess.Popen(args, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.popen.pid

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) * 1024
        return out

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()
        return self.popen.returncode


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its direct children (PostgreSQL's backends)."""
    total = 0.0
    tck = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tck
    return total


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    """Every sample of /metrics summed over labels, plus a few per-label breakdowns."""
    text = (await client.get(url, timeout=10.0)).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name
            if s.name.endswith("_bucket"):
                key = f"{s.name}|{s.labels.get('le')}"
            elif s.name in ("sentinel_posts_ingested_total", "sentinel_posts_duplicate_total"):
                source_key = f"{s.name}|source={s.labels.get('source')}"
                out[source_key] = out.get(source_key, 0.0) + s.value
            elif s.name in ("sentinel_notifications_total", "sentinel_fetch_errors_total"):
                key = f"{s.name}|{','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))}"
            out[key] = out.get(key, 0.0) + s.value
    return out


def histogram_quantiles(before: dict[str, float], after: dict[str, float], name: str) -> dict[str, Any]:
    """p50/p95/p99 of a Prometheus histogram between two scrapes (linear within a bucket)."""
    buckets: list[tuple[float, float]] = []
    for key, value in after.items():
        if key.startswith(f"{name}_bucket|"):
            bound = key.split("|", 1)[1]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), value - before.get(key, 0.0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    out: dict[str, Any] = {"n": int(total)}
    for q in (0.5, 0.95, 0.99):
        if total <= 0:
            out[f"p{int(q * 100)}"] = None
            continue
        rank = q * total
        prev_le, prev_count = 0.0, 0.0
        for le, count in buckets:
            if count >= rank:
                if le == float("inf"):
                    out[f"p{int(q * 100)}"] = f">{prev_le}"
                else:
                    share = (rank - prev_count) / max(count - prev_count, 1e-9)
                    out[f"p{int(q * 100)}"] = round(prev_le + (le - prev_le) * share, 4)
                break
            prev_le, prev_count = le, count
    return out


def table_sizes(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    try:
        sizes = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}
    finally:
        conn.close()
    files = [db, db.with_name(db.name + "-wal")]
    sizes["db_bytes"] = sum(p.stat().st_size for p in files if p.exists())
    return sizes


# -- the bench ---------------------------------------------------------------------------------


class Bench:
    """Sets up the processes, drives the load, samples everything.

    ``--deployment embedded``: one ``sentinel run``. ``scaleout``: Mosquitto and PostgreSQL of
    its own (tests/scale/support.py) and one ``sentinel run --role R`` per role; CPU, RSS and
    fds are then summed over the role processes, and counters over their /metrics.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(args.workdir or tempfile.mkdtemp(prefix="sentinel-e2e-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = self.dir / "sentinel.db"
        self.db_url = f"sqlite:///{self.db}"
        self.feed = self.dir / "feed.jsonl"
        self.feed.touch()
        self.roles = ["all"] if args.deployment == "embedded" else ["collect", "classify", "score", "notify"]
        self.ports = {role: free_port() for role in self.roles}
        self.metrics_urls = {role: f"http://127.0.0.1:{port}/metrics" for role, port in self.ports.items()}
        self.receiver = Receiver()
        self.receiver.on_event = self._newest_seen
        # event id -> written time of the newest post its decision saw, looked up on arrival
        # (the load keeps only the last 120 s of write times)
        self.newest_seen: dict[Any, float] = {}
        self.load = Load(self.feed, args.brands, args.speedup, seed=args.seed)
        self.daemons: dict[str, Proc] = {}
        self.sim: Proc | None = None
        self.servers: list[Any] = []  # Broker, PgCluster (scale-out)
        self.mqtt_url = ""
        self.server_pids: dict[str, int] = {}

    def config(self) -> Path:
        a = self.args
        name = "embedded.toml" if a.deployment == "embedded" else "scaleout.toml"
        template = string.Template((CONFIGS / name).read_text(encoding="utf-8"))
        text = template.substitute(
            db=self.db,
            db_url=self.db_url,
            mqtt_url=self.mqtt_url,
            retention=a.retention,
            metrics_port=self.ports[self.roles[0]],
            classifier=a.classifier,
            model=a.model,
            threads=a.threads,
            resolve_after=a.resolve_after,
            cooldown=a.cooldown,
            tick=a.tick,
            feed=self.feed,
            sim_url=f"http://127.0.0.1:{self.sim_port}",
            webhook=self.receiver.url,
        )
        for brand in self.load.brands:
            text += f'\n[[watch]]\nname = "{brand}"\nquery = "{brand}"\n'
        path = self.dir / "sentinel.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def _servers(self) -> None:
        """Mosquitto and PostgreSQL for the scale-out deployment (what CI installs)."""
        sys.path.insert(0, str(ROOT))
        from tests.scale.support import Broker, PgCluster

        pg_bin = os.environ.get("SENTINEL_TEST_PG_BIN") or max(
            (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), default=""
        )
        if not pg_bin:
            raise RuntimeError("scale-out needs PostgreSQL binaries (SENTINEL_TEST_PG_BIN)")
        broker, pg = Broker(), PgCluster(pg_bin)
        self.servers += [broker, pg]
        broker.start()
        pg.init()
        self.mqtt_url, self.db_url = broker.url, pg.url
        assert broker.proc is not None
        postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
        self.server_pids = {"mosquitto": broker.proc.pid, "postgresql": postmaster}

    async def start(self, client: httpx.AsyncClient) -> None:
        await self.receiver.start()
        self.sim_port = free_port()
        exe = str(Path(sys.executable).with_name("sentinel"))
        self.sim = Proc(
            [exe, "simulate", "serve", "--port", str(self.sim_port), "--generate", "demo"],
            self.dir / "sim.log",
        )
        if self.args.deployment == "scaleout":
            await asyncio.to_thread(self._servers)
        cfg = self.config()
        if self.args.deployment == "scaleout":
            upgrade = [exe, "db", "upgrade", "-c", str(cfg)]
            await asyncio.to_thread(subprocess.run, upgrade, cwd=ROOT, check=True, capture_output=True)
        for role in self.roles:
            env = {
                **os.environ,
                "SENTINEL_METRICS__LISTEN": f"127.0.0.1:{self.ports[role]}",
                "SENTINEL_BUS__CLIENT_ID": f"bench-{role}",
            }
            self.daemons[role] = Proc(
                [exe, "run", "-c", str(cfg), "--role", role], self.dir / f"daemon-{role}.log", env=env
            )
        deadline = time.monotonic() + 180.0
        for role, proc in self.daemons.items():
            while True:
                if proc.popen.poll() is not None:
                    log = (self.dir / f"daemon-{role}.log").read_text(errors="replace")
                    raise RuntimeError(f"{role} exited: {log[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    await scrape(client, self.metrics_urls[role])
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{role} did not serve /metrics within 180 s")
                await asyncio.sleep(0.5)

    def stop(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for role, proc in self.daemons.items():  # collect first: nothing new after it
            codes[role] = proc.stop()
        if self.sim is not None:
            codes["simulator"] = self.sim.stop(10.0)
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.close()
        self.load.close()
        return codes

    async def table_sizes(self) -> dict[str, int]:
        if self.args.deployment == "embedded":
            return await asyncio.to_thread(table_sizes, self.db)
        import asyncpg

        conn = await asyncpg.connect(self.db_url)
        try:
            sizes = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}
            sizes["db_bytes"] = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()
        return sizes

    async def drive(
        self, client: httpx.AsyncClient, rate: float, seconds: float, *, sample_every: float = 1.0
    ) -> list[dict[str, Any]]:
        """Write at ``rate`` for ``seconds``; a crisis episode every ``--crisis-every`` s."""
        t0 = time.time()
        base = self.load.written
        samples: list[dict[str, Any]] = []
        next_sample = t0
        next_crisis = getattr(self, "_next_crisis", t0 + 5.0)
        while True:
            now = time.time()
            if now - t0 >= seconds:
                break
            if now >= next_crisis:
                self.load.start_episode(now)
                next_crisis = now + self.args.crisis_every
            self.load.write(now, base + int(rate * (now - t0)))
            if now >= next_sample:
                next_sample += sample_every
                samples.append(await self.sample(client))
            await asyncio.sleep(0.01)
        self._next_crisis = next_crisis
        return samples

    async def sample(self, client: httpx.AsyncClient) -> dict[str, Any]:
        m: dict[str, float] = {}
        for url in self.metrics_urls.values():
            for key, value in (await scrape(client, url)).items():
                m[key] = m.get(key, 0.0) + value
        mems = {role: proc.memory() for role, proc in self.daemons.items()}
        return {
            "t": time.time(),
            "written": self.load.written,
            # only what the bench wrote (the simulator's source is counted apart)
            "ingested": m.get("sentinel_posts_ingested_total|source=bulk", 0.0)
            + m.get("sentinel_posts_duplicate_total|source=bulk", 0.0),
            "bus_depth": m.get("sentinel_bus_depth", 0.0),
            "cpu_s": sum(proc.cpu_seconds() for proc in self.daemons.values()),
            # the broker's and the database's own CPU (scale-out), apart from sentinel's
            "server_cpu_s": sum(tree_cpu_seconds(pid) for pid in self.server_pids.values()),
            "rss": sum(mem.get("VmRSS", 0) for mem in mems.values()),
            "hwm": sum(mem.get("VmHWM", 0) for mem in mems.values()),
            "rss_by_role": {role: mem.get("VmRSS", 0) for role, mem in mems.items()},
            "fds": sum(proc.fds() for proc in self.daemons.values()),
            # the machine is shared: every figure is read beside the load it was taken under
            "load": os.getloadavg()[0],
            "metrics": m,
        }

    def _newest_seen(self, received: float, ev: dict[str, Any]) -> None:
        brand = ev.get("watch")
        if brand in self.load.times and ev.get("at"):
            at = datetime.fromisoformat(ev["at"]).timestamp()
            newest = self.load.newest_before(brand, at)
            if newest is not None:
                self.newest_seen[(ev.get("id"), brand, ev.get("at"))] = newest

    def latencies(self, since: float, until: float) -> dict[str, Any]:
        served: list[float] = []
        tick: list[float] = []
        detect: list[float] = []
        other: list[float] = []
        for received, ev in self.receiver.events:
            at = datetime.fromisoformat(ev["at"]).timestamp()
            if not since <= at < until:
                continue  # attributed to the period its decision was taken in
            if ev.get("event") not in ("opened", "escalated"):
                other.append(received - at)
                continue
            brand = ev.get("watch")
            if brand not in self.load.times:
                continue  # the simulator's watch: its posts are not timed here
            newest = self.newest_seen.get((ev.get("id"), ev.get("watch"), ev.get("at")))
            if newest is not None:
                served.append(received - newest)
            tick.append(received - at)
            if ev.get("event") == "opened":
                ep = self.load.episode_for(brand, at)
                if ep is not None and ep.first_written is not None:
                    detect.append(received - ep.first_written)
        return {
            "served_to_notified": summary(served),
            "tick_to_notified": summary(tick),
            "first_crisis_post_to_opened": summary(detect),
            "other_events_tick_to_notified": summary(other),
        }


def step_report(bench: Bench, rate: float, samples: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    t0 = samples[0]["t"]
    window = [s for s in samples if s["t"] - t0 >= warmup] or samples[-2:]
    a, b = window[0], window[-1]
    dt = max(b["t"] - a["t"], 1e-9)
    written_rate = (b["written"] - a["written"]) / dt
    ingest_rate = (b["ingested"] - a["ingested"]) / dt
    lag_start = a["written"] - a["ingested"]
    lag_end = b["written"] - b["ingested"]
    cpu = (b["cpu_s"] - a["cpu_s"]) / dt
    server_cpu = (b["server_cpu_s"] - a["server_cpu_s"]) / dt
    depth = [s["bus_depth"] for s in window]
    # keeping up: takes in what is written, and the backlog (file + bus) does not grow
    kept_up = ingest_rate >= 0.95 * written_rate and lag_end - lag_start <= max(0.05 * written_rate * dt, 200)
    return {
        "target_rate": rate,
        "written_per_s": round(written_rate, 1),
        "ingested_per_s": round(ingest_rate, 1),
        "backlog_start": int(lag_start),
        "backlog_end": int(lag_end),
        "bus_depth_max": max(depth),
        "bus_depth_end": depth[-1],
        "kept_up": kept_up,
        "cpu_cores": round(cpu, 2),
        "server_cpu_cores": round(server_cpu, 2),
        "rss_max_mib": round(max(s["rss"] for s in window) / 2**20, 1),
        "peak_rss_mib": round(b["hwm"] / 2**20, 1),
        "load_avg_1m": [round(min(s["load"] for s in window), 2), round(max(s["load"] for s in window), 2)],
        "pipeline_latency": histogram_quantiles(
            a["metrics"], b["metrics"], "sentinel_pipeline_latency_seconds"
        ),
        "classify_batch": histogram_quantiles(a["metrics"], b["metrics"], "sentinel_classify_batch_size"),
        "alerts": bench.latencies(a["t"], b["t"]),
        "window": [a["t"], b["t"]],
        "window_s": round(dt, 1),
    }


def print_step(r: dict[str, Any]) -> None:
    lat = r["alerts"]["served_to_notified"]

    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)

    print(
        f"rate {r['target_rate']:>6.0f}/s  wrote {r['written_per_s']:>7.1f}/s  ingested {r['ingested_per_s']:>7.1f}/s"
        f"  backlog {r['backlog_start']:>6}->{r['backlog_end']:<6} depth≤{r['bus_depth_max']:<6.0f}"
        f" cpu {r['cpu_cores']:.2f}  rss {r['rss_max_mib']:.0f} MiB  kept_up={r['kept_up']}"
        f"  alert p50/p95/p99 {f(lat['p50'])}/{f(lat['p95'])}/{f(lat['p99'])} s (n={lat['n']})"
        f"  post p50/p95 {r['pipeline_latency'].get('p50')}/{r['pipeline_latency'].get('p95')} s",
        flush=True,
    )


async def ramp(bench: Bench, client: httpx.AsyncClient) -> dict[str, Any]:
    a = bench.args
    steps = []
    fails = 0
    for rate in a.rates:
        samples = await bench.drive(client, rate, a.step)
        # let notifications for the step's last ticks arrive before judging it
        report = step_report(bench, rate, samples, a.warmup)
        steps.append(report)
        print_step(report)
        fails = 0 if report["kept_up"] else fails + 1
        if fails >= a.stop_after_fails:
            break
    # notifications for a step's last ticks arrive after it: judge alert latency at the end
    await asyncio.sleep(a.grace)
    for s in steps:
        s["alerts"] = bench.latencies(*s["window"])
    sustained = max((s["target_rate"] for s in steps if s["kept_up"]), default=0)
    return {"steps": steps, "sustained_rate": sustained}


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 3600.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


async def soak(bench: Bench, client: httpx.AsyncClient) -> dict[str, Any]:
    a = bench.args
    t_start = time.time()
    periods: list[dict[str, Any]] = []
    tables: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    while time.time() - t_start < a.duration:
        chunk = await bench.drive(
            client, a.rate, min(a.period, a.duration - (time.time() - t_start)), sample_every=5.0
        )
        samples += chunk
        period = step_report(bench, a.rate, chunk, 0.0)
        periods.append(period)
        sizes: dict[str, Any] = {"t": round(time.time() - t_start), **await bench.table_sizes()}
        tables.append(sizes)
        print_step(period)
        print(
            f"   t={sizes['t']:.0f}s fds={chunk[-1]['fds']} tables {json.dumps(sizes, ensure_ascii=False)}",
            flush=True,
        )
    await asyncio.sleep(a.grace)
    for period in periods:
        period["alerts"] = bench.latencies(*period["window"])
    settled = [s for s in samples if s["t"] - t_start >= a.warmup]
    first, last = settled[0], settled[-1]
    errors = {
        k: last["metrics"].get(k, 0.0) - first["metrics"].get(k, 0.0)
        for k in set(last["metrics"]) | set(first["metrics"])
        if k.startswith(("sentinel_fetch_errors_total", "sentinel_posts_rejected_total"))
        or (k.startswith("sentinel_notifications_total") and "result=sent" not in k)
        or k in ("sentinel_outbox_dead",)
    }
    whole = step_report(bench, a.rate, samples, a.warmup)
    return {
        "whole": whole,
        "periods": periods,
        "tables": tables,
        "rss_slope_mib_per_hour": _round(slope_per_hour([(s["t"], s["rss"] / 2**20) for s in settled])),
        # the windows take 10 min to fill and the hour of voices an hour: the second half is
        # what says whether memory is flat
        "rss_slope_second_half_mib_per_hour": _round(
            slope_per_hour(
                [(s["t"], s["rss"] / 2**20) for s in samples if s["t"] - t_start >= a.duration / 2]
            )
        ),
        "load_avg_1m_min_mean_max": [
            round(min(s["load"] for s in samples), 2),
            round(statistics.fmean(s["load"] for s in samples), 2),
            round(max(s["load"] for s in samples), 2),
        ],
        "fd_slope_per_hour": _round(slope_per_hour([(s["t"], float(s["fds"])) for s in settled])),
        "rss_first_last_mib": [round(first["rss"] / 2**20, 1), round(last["rss"] / 2**20, 1)],
        "fds_first_last": [first["fds"], last["fds"]],
        "peak_rss_mib": round(last["hwm"] / 2**20, 1),
        "error_counter_growth": {k: v for k, v in errors.items() if v},
        "outbox_pending_end": last["metrics"].get("sentinel_outbox_pending"),
        "series": [
            {
                "t": round(s["t"] - t_start, 1),
                "rss_mib": round(s["rss"] / 2**20, 1),
                "hwm_mib": round(s["hwm"] / 2**20, 1),  # when the peak moved: between which samples
                "fds": s["fds"],
                "bus_depth": s["bus_depth"],
                "backlog": s["written"] - s["ingested"],
                "load": round(s["load"], 2),
            }
            for s in samples
        ],
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    result: dict[str, Any] = {
        "mode": args.mode,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
        "options": {k: v for k, v in vars(args).items() if k != "func"},
        "workdir": str(bench.dir),
    }
    async with httpx.AsyncClient() as client:
        try:
            await bench.start(client)
            pids = {role: proc.pid for role, proc in bench.daemons.items()}
            print(f"daemon pid(s) {pids}, workdir {bench.dir}", flush=True)
            await asyncio.sleep(args.settle)
            if args.mode == "ramp":
                result.update(await ramp(bench, client))
            else:
                result.update(await soak(bench, client))
            final = await bench.sample(client)
            result["daemon_peak_rss_mib"] = round(final["hwm"] / 2**20, 1)
            result["alert_events_received"] = len(bench.receiver.events)
            result["table_sizes_end"] = await bench.table_sizes()
        finally:
            result["exit_codes"] = bench.stop()
            await bench.receiver.stop()
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["ramp", "soak"])
    p.add_argument("--rates", type=float, nargs="+", default=[250, 500, 750, 1000, 1250, 1500, 2000])
    p.add_argument("--step", type=float, default=45.0, help="seconds per ramp step")
    p.add_argument(
        "--warmup", type=float, default=10.0, help="seconds of each step (soak: of the run) not judged"
    )
    p.add_argument(
        "--stop-after-fails", type=int, default=2, help="ramp: stop after N steps that fell behind"
    )
    p.add_argument("--rate", type=float, default=500.0, help="soak: posts per second")
    p.add_argument("--duration", type=float, default=1800.0, help="soak: seconds")
    p.add_argument("--period", type=float, default=60.0, help="soak: seconds per reported period")
    p.add_argument("--deployment", choices=["embedded", "scaleout"], default="embedded")
    p.add_argument("--classifier", default="transformer", help="transformer | lexicon")
    p.add_argument("--model", default="models/default")
    p.add_argument("--threads", type=int, default=2, help="[classifier] threads (torch intra-op; default 2)")
    p.add_argument("--brands", type=int, default=8)
    p.add_argument("--speedup", type=float, default=4.0, help="crisis episodes play this many times faster")
    p.add_argument("--crisis-every", type=float, default=30.0)
    p.add_argument("--resolve-after", default="60s")
    p.add_argument("--cooldown", default="30s")
    p.add_argument("--tick", default="10s", help="[risk] tick (the engine's default is 10 s)")
    p.add_argument("--retention", default="30d")
    p.add_argument("--settle", type=float, default=3.0, help="seconds between start-up and load")
    p.add_argument("--grace", type=float, default=5.0, help="seconds to wait for late notifications")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default=None)
    p.add_argument("--out", default=None, help="write the JSON result here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    text = json.dumps(result, ensure_ascii=False, indent=1, default=str)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    summary_keys = ("sustained_rate", "daemon_peak_rss_mib", "alert_events_received", "exit_codes")
    print(json.dumps({k: result.get(k) for k in summary_keys}, ensure_ascii=False, default=str))
    return result


if __name__ == "__main__":
    main()
