"""Real servers and a small deterministic risk engine for the scale-out tests.

* :class:`Broker` — our own Mosquitto (own port, own persistence directory), so a test can
  restart it without disturbing the shared CI broker.
* :class:`PgCluster` — our own PostgreSQL cluster (``initdb`` in a temporary directory), so a
  test can restart it without disturbing the shared CI database.
* :class:`WindowEngine` — a risk engine that counts negative posts per watch in an
  event-time window; order-sensitive on purpose, so a scorer that observed posts out of
  order produces a different alert sequence.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sentinel.post import ScoredPost
from sentinel.risk.base import AlertEvent

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
LEVELS = ("blue", "yellow", "orange", "red")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record(i: int, *, negative: bool = False, step: float = 1.0) -> dict[str, Any]:
    """Post ``i`` of a stream: strictly increasing created_at, every 7th mentions ACME."""
    text = "艾克美 今天的新品 " if i % 7 == 0 else "随便聊聊 "
    text += "太差了 垃圾 投诉 退款" if negative else "挺好的 喜欢"
    return {
        "platform": "weibo",
        "id": str(4_950_000_000_000_000 + i),
        "text": f"{text} #{i}",
        "created_at": (T0 + timedelta(seconds=i * step)).isoformat(),
        "author": {"id": str(1000 + i % 97), "name": f"用户{i % 97}", "followers": 100 + i % 5000},
    }


def stream(n: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """A stream with bursts of negative posts (so alerts open, escalate and resolve)."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        burst = (i // 2000) % 3 == 1
        out.append(record(i, negative=rng.random() < (0.7 if burst else 0.05)))
    return out


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


class WindowEngine:
    """Negative posts about each watch (a substring) in the last ``window`` of event time."""

    def __init__(self, watches: dict[str, str], *, window: float = 600.0, thresholds=(5, 15, 40, 80)) -> None:
        self.watches = watches
        self.window = timedelta(seconds=window)
        self.thresholds = thresholds
        self.recent: dict[str, deque[tuple[datetime, str]]] = {w: deque() for w in watches}
        self.level: dict[str, str | None] = dict.fromkeys(watches)

    def observe(self, posts: Sequence[ScoredPost]) -> None:
        for sp in posts:
            for watch, term in self.watches.items():
                if term in sp.post.text and sp.negative >= 0.5:
                    self.recent[watch].append((sp.post.created_at, sp.post.id))

    def evaluate(self, now: datetime) -> list[AlertEvent]:
        events = []
        for watch, q in self.recent.items():
            while q and q[0][0] <= now - self.window:
                q.popleft()
            n = len(q)
            rank = sum(1 for th in self.thresholds if n >= th)
            new = LEVELS[rank - 1] if rank else None
            old = self.level[watch]
            if new == old:
                continue
            if old is None:
                kind = "opened"
            elif new is None:
                kind = "resolved"
            else:
                kind = "escalated" if LEVELS.index(new) > LEVELS.index(old) else "deescalated"
            self.level[watch] = new
            events.append(
                AlertEvent(
                    kind, watch, new or old or "blue", float(n), now, {"negatives": n}, [i for _, i in q][-3:]
                )
            )
        return events

    def warm_start(self, posts: Sequence[ScoredPost], open_levels: dict[str, str], now: datetime) -> None:
        self.observe(posts)
        for watch in self.watches:
            self.level[watch] = open_levels.get(watch)


class Broker:
    """A Mosquitto of our own, restartable; persistence survives a clean restart."""

    def __init__(self) -> None:
        # not under pytest's private tmp dir: a root-started mosquitto runs as user mosquitto
        self.dir = Path(tempfile.mkdtemp(prefix="sentinel-mosq-"))
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "max_inflight_messages 100\n"
            # a worker that is down keeps its share queued, however long the queue gets
            "max_queued_messages 0\n"
            "autosave_interval 1\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.dir / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # a clean stop writes the persistence file
            self.proc.wait(10)
        self.proc = None

    def restart(self, down: float = 0.5) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PgCluster:
    """A PostgreSQL cluster of our own (``initdb`` in a temporary directory), restartable."""

    def __init__(self, bindir: str) -> None:
        self.bin = Path(bindir)
        self.dir = Path(tempfile.mkdtemp(prefix="pg-"))
        os.chmod(self.dir, 0o777)
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, command: str) -> None:
        line = f"{self.bin}/{command}"
        # PostgreSQL refuses to run as root
        cmd = ["su", "postgres", "-c", line] if self.as_root else ["sh", "-c", line]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self._run(f"initdb -D {self.data} -A trust -U postgres")
        self.start()

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(f"pg_ctl -D {self.data} -l {self.dir}/pg.log -o '{opts}' -w start")

    def stop(self) -> None:
        self._run(f"pg_ctl -D {self.data} -m fast -w stop")

    def restart(self, down: float = 0.5) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def close(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
