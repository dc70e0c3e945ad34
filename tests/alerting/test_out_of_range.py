"""Out-of-range values through the API and the CLI are refused before they are stored, and
rows that got in earlier (a silence until the year 10000) never make a read fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from typer.testing import CliRunner

from sentinel.alerting.api import ApiTokens, register_routes
from sentinel.alerting.manage import AlertManager
from sentinel.cli import app
from sentinel.clock import ManualClock
from sentinel.config import StorageConfig
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent
from sentinel.store import SqlStore
from sentinel.web.server import WebServer

from .conftest import T0, H, fill_known

READ, WRITE = "read-fixture", "write-fixture"
FAR = "9999-12-31T23:59:59-23:59"  # UTC: 10000-01-01, past what a datetime holds
YEAR_10000 = 253402387139.0  # the timestamp that silence used to be stored with

runner = CliRunner()


async def _ready() -> dict[str, bool]:
    return {"store": True}


@pytest.fixture
async def client(filled: SqlStore, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    server = WebServer("127.0.0.1", 0, Metrics(CollectorRegistry()), readiness=_ready)
    register_routes(server, filled, clock, ApiTokens(read=READ, write=WRITE), watches=["acme"])
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as c:
            yield c
    finally:
        await server.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _legacy_far_silence(store: SqlStore, watch: str = "acme") -> None:
    """A row as the old code stored it: ends in the year 10000."""
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO silences (watch, starts_ts, ends_ts, reason, created_by, created_ts) "
                "VALUES (:w, :s, :e, 'legacy', 'old', :s)"
            ),
            {"w": watch, "s": T0.timestamp(), "e": YEAR_10000},
        )


async def test_far_future_silence_is_refused_and_not_stored(client: httpx.AsyncClient) -> None:
    before = (await client.get("/api/v1/silences", headers=auth(READ))).json()["silences"]
    for body in (
        {"watch": "acme", "until": FAR},
        {"watch": "acme", "until": "now+99999999d"},
        {"watch": "acme", "until": "2030-01-01T00:00:00+08:00"},  # beyond the one-year horizon
        {"watch": "acme", "for": "99999999d"},
        {"watch": "acme", "for": 1e300},
        {"watch": "acme", "for": "1e300"},
        {"watch": "acme", "for": "nan"},
        {"watch": "acme", "for": "400d"},
    ):
        r = await client.post("/api/v1/silences", json=body, headers=auth(WRITE))
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]
    r = await client.get("/api/v1/silences", headers=auth(READ))
    assert r.status_code == 200 and r.json()["silences"] == before
    audit = (await client.get("/api/v1/audit", headers=auth(READ))).json()["audit"]
    assert "silence.create" not in [e["action"] for e in audit]


async def test_ids_out_of_range_are_400(client: httpx.AsyncClient) -> None:
    huge = "99999999999999999999999"
    for method, path in [
        ("GET", f"/api/v1/alerts/{huge}"),
        ("GET", "/api/v1/alerts/2147483648"),
        ("POST", f"/api/v1/alerts/{huge}/ack"),
        ("POST", f"/api/v1/alerts/{huge}/resolve"),
        ("POST", f"/api/v1/silences/{huge}/expire"),
    ]:
        r = await client.request(method, path, json={"by": "x"}, headers=auth(WRITE))
        assert r.status_code == 400, (method, path, r.text)
    r = await client.get("/api/v1/alerts?limit=99999999999999999999999", headers=auth(READ))
    assert r.status_code == 200


async def test_silences_for_unknown_watches_are_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/silences", json={"watch": "nope", "for": "1h"}, headers=auth(WRITE))
    assert r.status_code == 400 and "unknown watch" in r.json()["error"]
    r = await client.post("/api/v1/silences", json={"watch": "*", "for": "1h"}, headers=auth(WRITE))
    assert r.status_code == 200 and r.json()["silence"]["watch"] == "*"


async def test_a_legacy_far_silence_never_breaks_a_read(
    client: httpx.AsyncClient, filled: SqlStore, clock: ManualClock
) -> None:
    await _legacy_far_silence(filled)
    r = await client.get("/api/v1/silences", headers=auth(READ))
    assert r.status_code == 200
    [silence] = r.json()["silences"]
    assert silence["ends_at"].startswith("9999-12-30")  # clamped, still in force
    r = await client.get("/api/v1/silences?active=1", headers=auth(READ))
    assert r.status_code == 200 and len(r.json()["silences"]) == 1
    # the daemon's hook: the event is marked silenced, nothing raises
    event = AlertEvent("escalated", "acme", "red", 90.0, T0 + 21 * H)
    [marked] = await AlertManager(filled, clock).annotate([event])
    assert marked.factors.get("silenced") is True
    # and the silence can be ended
    r = await client.post(f"/api/v1/silences/{silence['id']}/expire", json={"by": "ops"}, headers=auth(WRITE))
    assert r.status_code == 200


async def test_annotate_never_raises(filled: SqlStore, clock: ManualClock) -> None:
    # whatever the store does, the events come back (unannotated) to be stored and sent
    async with filled.engine.begin() as conn:
        await conn.execute(text("DROP TABLE silences"))
    events = [AlertEvent("escalated", "acme", "red", 90.0, T0 + 21 * H)]
    out = await AlertManager(filled, clock).annotate(events)
    assert [e.event for e in out] == ["escalated"]
    assert "silenced" not in out[0].factors


async def test_a_silence_for_every_watch_silences_events(filled: SqlStore, clock: ManualClock) -> None:
    manager = AlertManager(filled, clock)
    await manager.silence("*", until=clock.now() + 2 * H, actor="ops")
    [ev] = await manager.annotate([AlertEvent("opened", "acme", "yellow", 50.0, clock.now() + H)])
    assert ev.factors.get("silenced") is True


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    db = tmp_path / "cli.db"

    async def fill() -> None:
        store = SqlStore(StorageConfig(url=f"sqlite:///{db}"), Metrics(CollectorRegistry()))
        await store.open()
        try:
            await fill_known(store, ManualClock(T0 + 4.75 * H))
            await _legacy_far_silence(store)
        finally:
            await store.close()

    asyncio.run(fill())
    path = tmp_path / "sentinel.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{db}"\n\n[[watch]]\nname = "acme"\nquery = "艾克美 OR ACME"\n',
        encoding="utf-8",
    )
    return path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_cli_refuses_out_of_range_silences(config_file: Path) -> None:
    c = str(config_file)
    for args in (
        ["--for", "99999999d"],
        ["--for", "inf"],
        ["--until", FAR],
        ["--until", "now+9999d"],
        ["--for", "400d"],
    ):
        code, out = run("alerts", "silence", "--watch", "acme", "--config", c, *args)
        assert code == 2, (args, out)
        assert "Traceback" not in out and out.strip().count("\n") == 0, out
    code, out = run("alerts", "silence", "--watch", "nope", "--for", "1h", "--config", c)
    assert code == 2 and "unknown watch" in out
    code, out = run("alerts", "silence", "--watch", "*", "--for", "1h", "--config", c)
    assert code == 0, out


def test_cli_reads_survive_a_legacy_far_silence(config_file: Path, tmp_path: Path) -> None:
    c = str(config_file)
    code, out = run("alerts", "silences", "--all", "--config", c)
    assert code == 0 and "9999-12-30" in out
    code, out = run("alerts", "silences", "--config", c, "--json")
    assert code == 0, out
    code, out = run(
        "report",
        "--watch",
        "acme",
        "--from",
        T0.isoformat(),
        "--to",
        (T0 + 12 * H).isoformat(),
        "--out",
        str(tmp_path / "report"),
        "--config",
        c,
    )
    assert code == 0, out


def test_cli_ids_out_of_range(config_file: Path) -> None:
    code, out = run("alerts", "show", "99999999999999999999", "--config", str(config_file))
    assert code != 0 and "Traceback" not in out


async def test_report_links_carry_no_credentials(
    filled: SqlStore, clock: ManualClock, tmp_path: Path
) -> None:
    from sentinel.alerting.render import write_report
    from sentinel.alerting.report import build_report
    from sentinel.config import config_from_dict
    from sentinel.post import Author, Post, ScoredPost

    posts = [
        Post("weibo", f"cred{i}", f"艾克美 出事了 {i}", T0 + 5 * H, Author(f"u{i}", "某人", 10), url=url)
        for i, url in enumerate(
            ["http://user:pw@evil.example/", "https://token@evil.example/x", "ftp://files.example/a"]
        )
    ]
    await filled.write_batch(
        [(ScoredPost(p, 0.99, "negative", {}), "test") for p in posts], [], model="t", now=T0
    )
    cfg = config_from_dict({"watch": [{"name": "acme", "query": "艾克美 OR ACME"}]}, environ={})
    data = await build_report(filled, cfg, "acme", since=T0, until=T0 + 12 * H, clock=clock, progress=False)
    page = write_report(data, tmp_path / "out").html.read_text(encoding="utf-8")
    assert 'href="http://user:pw@' not in page and 'href="https://token@' not in page
    assert 'href="ftp:' not in page


async def test_responses_are_range_checked_and_legacy_ones_read(
    client: httpx.AsyncClient, filled: SqlStore
) -> None:
    r = await client.post(
        "/api/v1/responses", json={"watch": "acme", "kind": "statement", "at": FAR}, headers=auth(WRITE)
    )
    assert r.status_code == 400
    r = await client.post(
        "/api/v1/responses", json={"watch": "nope", "kind": "statement"}, headers=auth(WRITE)
    )
    assert r.status_code == 400 and "unknown watch" in r.json()["error"]
    async with filled.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO responses (watch, at_ts, kind, created_ts) VALUES ('acme', :e, 'other', :e)"),
            {"e": YEAR_10000},
        )
    r = await client.get("/api/v1/responses?watch=acme", headers=auth(READ))
    assert r.status_code == 200 and len(r.json()["responses"]) == 2


def test_cli_huge_limits_are_capped(config_file: Path) -> None:
    code, out = run("alerts", "list", "--limit", "99999999999999999999", "--config", str(config_file))
    assert code == 0 and "#1" in out
