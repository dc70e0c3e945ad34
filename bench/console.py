"""How fast the console's pages load with a month of data for 10 watches on SQLite.

    python bench/console.py [--watches 10] [--days 30] [--posts-per-day 2000] [--runs 20] [--db FILE]

Builds (or reuses, with ``--db``) a SQLite store holding ``days`` of posts for ``watches``
watches (each post scored and assigned to its watch in ``post_watches``), a few alerts a
week per watch with their events, audit entries and responses; then serves the console
exactly as the daemon does (FastAPI on uvicorn on 127.0.0.1, the real store) and times
each page over real HTTP with a signed-in session: the median and 95th percentile of
``runs`` loads (the first, cold, load is reported apart). The target is every page under
300 ms. The review report (``/review/report.html``) is the whole 复盘 of a watch's week. The
overview serves a snapshot at most 5 s old (refreshed behind the request); the time one
refresh takes is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from prometheus_client import CollectorRegistry

from sentinel.alerting.manage import AlertManager
from sentinel.clock import ManualClock
from sentinel.config import config_from_dict
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent
from sentinel.store import SqlStore
from sentinel.store import schema as t
from sentinel.store.alerts import Audit
from sentinel.web.auth import hash_password
from sentinel.web.console import Console
from sentinel.web.server import WebServer

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PASSWORD = "bench-password-1"
LEVELS = ("blue", "yellow", "orange", "red")


async def fill(store: SqlStore, watches: list[str], days: int, per_day: int, seed: int) -> int:
    """Posts, scores and watch assignments in bulk (as the pipeline would have stored them)."""
    rng = random.Random(seed)
    start = (NOW - timedelta(days=days)).timestamp()
    span = days * 86400.0
    pk = 0
    async with store.engine.begin() as conn:
        for watch in watches:
            posts, scores, members = [], [], []
            for _ in range(days * per_day):
                pk += 1
                ts = start + rng.random() * span
                negative = rng.random() < 0.15
                text = f"{watch} 的一条帖子 {pk}" + (" 太差了，投诉" if negative else "")
                record = {"platform": "weibo", "id": str(pk), "text": text,
                          "created_at": datetime.fromtimestamp(ts, UTC).isoformat(),
                          "author": {"id": f"u{pk % 5000}", "name": f"用户{pk % 5000}", "followers": rng.randint(0, 10**6)}}  # fmt: skip
                posts.append({"pk": pk, "platform": "weibo", "post_id": str(pk), "created_ts": ts, "ingested_ts": ts,
                              "updated_ts": ts, "source": "bench", "author_id": f"u{pk % 5000}", "followers": 100,
                              "reposts": 0, "comments": 0, "likes": 0, "repost_of": None, "seen": 1, "text": text,
                              "data": json.dumps(record, ensure_ascii=False)})  # fmt: skip
                scores.append({"post_pk": pk, "model": "bench", "negative": 0.9 if negative else 0.1,
                               "label": "negative" if negative else "neutral", "topics": "{}", "scored_ts": ts})  # fmt: skip
                members.append({"post_pk": pk, "watch": watch, "via": "match"})
            await conn.execute(t.posts.insert(), posts)
            await conn.execute(t.classifications.insert(), scores)
            await conn.execute(t.post_watches.insert(), members)
            print(f"  {watch}: {len(posts)} posts", file=sys.stderr)
    return pk


async def alerts(store: SqlStore, watches: list[str], days: int, seed: int) -> int:
    rng = random.Random(seed)
    clock = ManualClock(NOW - timedelta(days=days))
    manager = AlertManager(store, clock)
    count = 0
    for day in range(0, days, 2):
        for watch in watches:
            if rng.random() > 0.6:
                continue
            at = NOW - timedelta(days=days - day) + timedelta(hours=rng.randint(0, 20))
            samples = [{"id": str(i), "text": f"{watch} 出事了 {i}", "author": f"用户{i}", "followers": 10**i,
                        "negative": 0.9} for i in range(1, 6)]  # fmt: skip
            factors = {"volume": {"value": 40, "baseline": 4, "strength": 0.9, "contribution": 25},
                       "negative_share": {"value": 0.6, "baseline": 0.15, "strength": 0.8, "contribution": 20},
                       "stories": [{"id": "1", "size": 60, "text": f"{watch} 出事了"}]}  # fmt: skip
            events = [AlertEvent("opened", watch, "yellow", 50, at, factors=factors, samples=samples)]
            peak = rng.choice(LEVELS[1:])
            if peak != "yellow":
                events.append(AlertEvent("escalated", watch, peak, 75, at + timedelta(hours=1), factors=factors,
                                         samples=samples, previous_level="yellow"))  # fmt: skip
            resolved = day < days - 2
            if resolved:
                events.append(
                    AlertEvent("resolved", watch, peak, 10, at + timedelta(hours=5), factors=factors)
                )
            clock.advance_to(at)
            saved = await store.save_events(await manager.annotate(events), lambda ev: [])
            count += 1
            if rng.random() < 0.7 and saved[0].alert_id is not None:
                await store.add_audit(Audit(at + timedelta(minutes=10), "pr (web)", "alert.assign",
                                            f"alert:{saved[0].alert_id}", {"owner": "pr"}))  # fmt: skip
    return count


async def serve_and_time(
    store: SqlStore, config: object, watches: list[str], runs: int
) -> dict[str, dict[str, float]]:
    await store.add_user(
        "bench", "responder", hash_password(PASSWORD), Audit(NOW, "bench", "user.add", "bench", {})
    )
    server = WebServer("127.0.0.1", 0, Metrics(CollectorRegistry()), readiness=_ready)
    console = Console(store, ManualClock(NOW), config, server.metrics, stopping=server.stopping)  # type: ignore[arg-type]
    console.mount(server.fastapi)
    await server.start()
    results: dict[str, dict[str, float]] = {}
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            form = (await client.get("/login")).text
            token = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = await client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": token})
            assert r.status_code == 303, r.text
            newest = (await store.list_alerts(limit=1))[0].id
            pages = {
                "/ (overview)": "/",
                "/api/console/overview": "/api/console/overview",
                "/alerts": "/alerts",
                "/alerts?status=open&level=red": "/alerts?status=open&level=red",
                "/alerts/{id}": f"/alerts/{newest}",
                "/review": "/review",
                "/review/report.html (7 days)": f"/review/report.html?watch={watches[0]}&since=now-7d&until=now",
                "/static/console.js": "/static/console.js",
            }
            for name, path in pages.items():
                times = []
                for i in range(runs + 1):
                    t0 = time.perf_counter()
                    r = await client.get(path)
                    took = (time.perf_counter() - t0) * 1000
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])
                    if i == 0:
                        cold = took
                    else:
                        times.append(took)
                times.sort()
                results[name] = {"cold": cold, "median": statistics.median(times),
                                 "p95": times[max(0, round(0.95 * len(times)) - 1)]}  # fmt: skip
        # what the snapshot behind the overview costs to refresh (in the background, every 5 s
        # at most, while someone looks)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            await console.views.overview_data()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        results["overview snapshot refresh (background)"] = {
            "cold": times[0],
            "median": times[2],
            "p95": times[-1],
        }
    finally:
        await server.stop()
    return results


async def _ready() -> dict[str, bool]:
    return {"store": True}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--watches", type=int, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--posts-per-day", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", type=Path, help="keep the store here (reused if it exists)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "console.db"
        watches = [f"品牌{i:02d}" for i in range(args.watches)]
        config = config_from_dict({"storage": {"url": f"sqlite:///{db}"},
                                   "watch": [{"name": w, "query": w} for w in watches]})  # fmt: skip
        fresh = not db.exists()
        store = SqlStore(config.storage)
        await store.open()
        try:
            if fresh:
                t0 = time.perf_counter()
                posts = await fill(store, watches, args.days, args.posts_per_day, args.seed)
                n = await alerts(store, watches, args.days, args.seed)
                print(f"built {posts} posts, {n} alerts in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
            else:
                await store.remove_user("bench", Audit(NOW, "bench", "user.remove", "bench", {}))
            results = await serve_and_time(store, config, watches, args.runs)
        finally:
            await store.close()
    print(
        f"{args.watches} watches, {args.days} days, {args.posts_per_day} posts/day/watch, SQLite, {args.runs} runs"
    )
    print(f"{'page':<34} {'cold ms':>8} {'median ms':>10} {'p95 ms':>8}")
    for name, r in results.items():
        print(f"{name:<34} {r['cold']:>8.0f} {r['median']:>10.0f} {r['p95']:>8.0f}")


if __name__ == "__main__":
    asyncio.run(main())
