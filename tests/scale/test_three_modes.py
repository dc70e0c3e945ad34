"""One alert-lifecycle scenario, three modes: the same alert events and the same notifications.

* embedded: ``--role all`` (memory bus, SQLite);
* split roles over Mosquitto and PostgreSQL: collect, classify, score and notify, each its
  own role object (in one event loop here; the code is the one ``sentinel run --role``
  runs), the API served by the notify role;
* ``sentinel backtest``: events only (it has no store, so no silences or acks).

The scenario: an alert opens; a silence is set through the CLI (``sentinel alerts
silence``); the alert escalates during it (stored, not sent); someone acknowledges it
through the HTTP API; it escalates again after the silence (the notification says who has
it); a quiet hour later it resolves. The split mode failed before issue 20: the scorer
never stamped silences or acknowledgements on its events.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from sentinel.backtest import run_backtest
from sentinel.cli import app
from sentinel.clock import ManualClock
from sentinel.config import Config, config_from_dict
from sentinel.nlp.lexicon import LexiconClassifier
from sentinel.nlp.scoring import Scorer
from sentinel.obs.metrics import Metrics
from sentinel.pipeline import Runtime
from sentinel.roles import ClassifyRuntime, CollectRole, NotifyRole, ScoreRole
from sentinel.store import SqlStore

from .conftest import eventually
from .support import WindowEngine, free_port

TOKEN = "three-modes-write-token"
WATCHES = {"acme": "艾克美"}


class Receiver:
    """A webhook receiver on 127.0.0.1: every JSON body it was sent, in order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[tuple[str, str, str | None]]:
        out = []
        for body in self.bodies:
            for ev in body.get("events") or [body]:
                who = ev["factors"].get("acked_by")  # "wang.li (api)", neutralised for chat
                out.append((ev["event"], ev["level"], who.split()[0] if who else None))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _post(i: int, at: datetime, *, negative: bool = True) -> dict[str, Any]:
    text = "艾克美 太差了 垃圾 投诉 退款" if negative else "今天天气不错"
    return {
        "platform": "weibo",
        "id": str(4_960_000_000_000_000 + i),
        "text": f"{text} #{i}",
        "created_at": at.isoformat(),
        "author": {"id": str(2000 + i), "name": f"用户{i}", "followers": 100},
    }


class Scenario:
    """The posts, in four phases, dated from ``t0`` (a minute ahead of the wall clock, so the
    CLI's silence, which starts "now", covers the second phase's event time)."""

    def __init__(self) -> None:
        self.t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
        t0 = self.t0
        # WindowEngine levels: 5, 15, 40, 80 negative posts in 10 minutes; each phase ends on
        # the post that crosses the next threshold, so every mode dates the event alike
        self.phases = [
            [_post(i, t0 + timedelta(seconds=i)) for i in range(5)],  # opened blue
            [_post(i, t0 + timedelta(seconds=20 + i)) for i in range(5, 15)],  # escalated yellow
            [_post(i, t0 + timedelta(seconds=200 + i)) for i in range(15, 40)],  # escalated orange
            [_post(40, t0 + timedelta(hours=1), negative=False)],  # the window empties: resolved
        ]
        self.silence_until = t0 + timedelta(seconds=100)

    def lines(self) -> list[str]:
        return [json.dumps(r, ensure_ascii=False) for phase in self.phases for r in phase]


def _config(tmp_path: Path, storage: str, receiver: Receiver, port: int, **more: Any) -> Config:
    data: dict[str, Any] = {
        "storage": {"url": storage},
        "metrics": {"enabled": True, "listen": f"127.0.0.1:{port}"},
        "classifier": {"type": "lexicon"},
        "api": {"write_token": TOKEN},
        "source": [
            {
                "name": "replay",
                "type": "file",
                "path": str(tmp_path / "posts.jsonl"),
                "poll": 0.05,
                "follow": True,
            }
        ],
        "watch": [{"name": "acme", "query": "艾克美"}],
        "notify": [{"type": "webhook", "url": receiver.url}],
        **more,
    }
    (tmp_path / "sentinel.toml").write_text(
        f'[storage]\nurl = "{storage}"\n\n[[watch]]\nname = "acme"\nquery = "艾克美"\n', encoding="utf-8"
    )
    return config_from_dict(data, environ={})


def _without_metrics(cfg: Config) -> Config:
    return cfg.model_copy(update={"metrics": cfg.metrics.model_copy(update={"enabled": False})})


async def _play(
    scenario: Scenario,
    tmp_path: Path,
    store: SqlStore,
    api_port: int,
    receiver: Receiver,
    advance: Callable[[datetime], None],
) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str | None]]]:
    """Feed the phases through the file source; silence, ack; return events and notifications."""
    posts = tmp_path / "posts.jsonl"

    async def phase(n: int, events: int) -> None:
        records = scenario.phases[n]
        advance(datetime.fromisoformat(records[-1]["created_at"]))
        with posts.open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)

        async def stored() -> bool:
            return len(await store.alert_events()) >= events

        await eventually(stored, within=30)

    await phase(0, 1)
    # a planned campaign: silenced through the CLI (in a thread: the CLI runs its own loop)
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [
            "alerts",
            "silence",
            "--watch",
            "acme",
            "--until",
            scenario.silence_until.isoformat(),
            "--reason",
            "campaign",
            "--by",
            "li.na",
            "--config",
            str(tmp_path / "sentinel.toml"),
        ],
    )
    assert result.exit_code == 0, result.output
    await phase(1, 2)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=headers) as client:
        listed = await client.get("/api/v1/alerts", params={"status": "open"})
        assert listed.status_code == 200, listed.text
        alert_id = listed.json()["alerts"][0]["id"]
        acked = await client.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "wang.li", "note": "on it"})
        assert acked.status_code == 200, acked.text
    await phase(2, 3)
    await phase(3, 4)

    async def delivered() -> bool:
        return len(receiver.events()) >= 3 and not (await store.outbox_counts()).get("webhook", {}).get(
            "pending"
        )

    await eventually(delivered, within=30)
    await asyncio.sleep(0.3)  # nothing more is on its way
    events = [
        (
            ev.event,
            ev.level,
            ev.at.astimezone(UTC),
            ev.factors.get("acked_by"),
            bool(ev.factors.get("silenced")),
        )
        for ev in await store.alert_events()
    ]
    return events, receiver.events()


def _expected(scenario: Scenario) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str | None]]]:
    at = [datetime.fromisoformat(p[-1]["created_at"]).astimezone(UTC) for p in scenario.phases]
    events = [
        ("opened", "blue", at[0], None, False),
        ("escalated", "yellow", at[1], None, True),  # during the silence: stored, not sent
        ("escalated", "orange", at[2], "wang.li (api)", False),  # after the ack: says who has it
        ("resolved", "orange", at[3], "wang.li (api)", False),
    ]
    sent = [("opened", "blue", None), ("escalated", "orange", "wang.li"), ("resolved", "orange", "wang.li")]
    return events, sent


async def _embedded(tmp_path: Path, scenario: Scenario) -> Any:
    receiver = Receiver()
    port = free_port()
    cfg = _config(tmp_path, f"sqlite:///{tmp_path}/s.db", receiver, port)
    clock = ManualClock(scenario.t0)
    runtime = Runtime(cfg, clock=clock, metrics=Metrics(), risk=WindowEngine(WATCHES))
    await runtime.start()
    try:
        return await _play(scenario, tmp_path, runtime.store, port, receiver, clock.advance_to)
    finally:
        await runtime.stop()
        receiver.close()


async def _split(tmp_path: Path, scenario: Scenario, pg_url: str, mqtt_url: str, prefix: str) -> Any:
    receiver = Receiver()
    port = free_port()
    cfg = _config(
        tmp_path, pg_url, receiver, port, bus={"type": "mqtt", "url": mqtt_url, "topic_prefix": prefix}
    )
    quiet = _without_metrics(cfg)
    score = ScoreRole(quiet, metrics=Metrics(), risk=WindowEngine(WATCHES), poll=0.05)
    await score.start()  # first: it migrates the database the others then share
    roles: list[Any] = [score]
    try:
        for role in (
            NotifyRole(cfg, metrics=Metrics(), lease_ttl=1.0),  # serves the API
            ClassifyRuntime(quiet, metrics=Metrics()),
            CollectRole(quiet, metrics=Metrics()),
        ):
            await role.start()
            roles.append(role)
        return await _play(scenario, tmp_path, score.store, port, receiver, lambda when: None)
    finally:
        for role in reversed(roles):
            await role.stop()
        receiver.close()


def _backtest(scenario: Scenario) -> list[tuple[str, str, datetime]]:
    cfg = config_from_dict(
        {"classifier": {"type": "lexicon"}, "watch": [{"name": "acme", "query": "艾克美"}]}, environ={}
    )
    out = io.StringIO()
    scorer = Scorer(LexiconClassifier(), cfg.classifier, Metrics())
    run_backtest(cfg, scenario.lines(), out, engine=WindowEngine(WATCHES), scorer=scorer)
    return [
        (e["event"], e["level"], datetime.fromisoformat(e["at"]).astimezone(UTC))
        for e in map(json.loads, out.getvalue().splitlines())
    ]


def _strip(events: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [e[:3] for e in events]


async def test_one_scenario_gives_the_same_events_and_notifications_in_three_modes(
    tmp_path: Path, pg_url: str, mqtt_url: str, topic_prefix: str
) -> None:
    scenario = Scenario()
    expected_events, expected_sent = _expected(scenario)

    (tmp_path / "embedded").mkdir()
    embedded = await _embedded(tmp_path / "embedded", scenario)
    assert embedded == (expected_events, expected_sent)

    (tmp_path / "split").mkdir()
    split = await _split(tmp_path / "split", scenario, pg_url, mqtt_url, topic_prefix)
    assert split == (expected_events, expected_sent)

    assert _backtest(scenario) == _strip(expected_events)
