"""The Prometheus side, with the real tools: promtool on the rule files, and a real Prometheus
scraping the real HTTP server, loading the same prometheus.yml and alerts.yml as compose.

Needs the Debian package ``prometheus`` (promtool and the server binary); without it these
tests are skipped, naming the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from sentinel.obs.metrics import Metrics
from sentinel.web.server import WebServer

from .names import exported_series, referenced

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "config" / "prometheus"
DASHBOARD = ROOT / "config" / "grafana" / "dashboards" / "sentinel.json"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)"
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)"
)


def promtool(*args: str, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@needs_promtool
def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_check_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_test_rules_catches_a_wrong_expectation(tmp_path: Path) -> None:
    # the unit tests are only worth something if a wrong expectation fails them
    broken = (PROM_DIR / "alerts_test.yml").read_text(encoding="utf-8").replace("risk 85/100", "risk 84/100")
    (tmp_path / "alerts_test.yml").write_text(broken, encoding="utf-8")
    shutil.copy(PROM_DIR / "alerts.yml", tmp_path / "alerts.yml")
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0


def rule_exprs() -> list[str]:
    rules = yaml.safe_load((PROM_DIR / "alerts.yml").read_text(encoding="utf-8"))
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def test_rules_reference_only_metrics_that_exist() -> None:
    used = set().union(*(referenced(e) for e in rule_exprs()))
    assert "sentinel_watch_level" in used
    assert used <= exported_series(), f"unknown metrics: {sorted(used - exported_series())}"


def test_every_rule_has_for_severity_and_annotations() -> None:
    rules = yaml.safe_load((PROM_DIR / "alerts.yml").read_text(encoding="utf-8"))
    names = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            names.append(rule["alert"])
            assert rule["for"], rule["alert"]
            assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
            assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
    assert len(names) == len(set(names))
    for wanted in (
        "SentinelWatchRed",
        "SentinelWatchOrange",
        "SentinelCollectionSilent",
        "SentinelSourceBlocked",
        "SentinelNotifierFailing",
        "SentinelOutboxBacklog",
        "SentinelOutboxDead",
        "SentinelClassifierSlow",
        "SentinelDown",
    ):
        assert wanted in names
    # each alert is unit-tested
    tests = yaml.safe_load((PROM_DIR / "alerts_test.yml").read_text(encoding="utf-8"))
    tested = {
        c["alertname"] for t in tests["tests"] for c in t.get("alert_rule_test", []) if c.get("exp_alerts")
    }
    assert set(names) - tested == set()


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for panel in dashboard["panels"]:
        for p in [panel, *panel.get("panels", [])]:
            found += [t["expr"] for t in p.get("targets", [])]
    found += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    # Grafana's variables, as Grafana would substitute them
    return [
        e.replace("$__rate_interval", "1m").replace("$watch", ".*").replace("$source", ".*") for e in found
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(target: str, prom_port: int) -> dict[str, Any]:
    """The committed prometheus.yml, pointed at the test server and sped up to one second."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROM_DIR / f) for f in config["rule_files"]]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["sentinel"].update(scrape_interval="1s", scrape_timeout="1s")
    jobs["sentinel"]["static_configs"][0]["targets"] = [target]
    jobs["prometheus"]["static_configs"][0]["targets"] = [f"127.0.0.1:{prom_port}"]
    return config


@pytest.fixture
async def populated_server() -> AsyncIterator[WebServer]:
    m = Metrics(CollectorRegistry())
    m.posts_ingested.labels(platform="weibo", source="weibo-acme").inc(42)
    m.source_last_success.labels(source="weibo-acme").set(1_764_300_000)
    m.watch_risk.labels(watch="艾克美").set(88)
    m.watch_level.labels(watch="艾克美").set(4)
    m.watch_negative_share.labels(watch="艾克美").set(0.61)
    m.classify_seconds.observe(0.2)
    m.notifications.labels(channel="dingtalk", result="sent").inc(3)
    m.outbox_pending.set(1)

    async def ready() -> dict[str, bool]:
        return {"store": True, "bus": True, "sources": True}

    server = WebServer("127.0.0.1", 0, m, readiness=ready)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def wait_for(client: httpx.AsyncClient, path: str, check: Any, within: float = 30.0) -> Any:
    """Poll a Prometheus API path until ``check(json)`` is truthy; return the json."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while loop.time() < deadline:
        try:
            r = await client.get(path)
            last = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
            if r.status_code == 200 and check(last):
                return last
        except httpx.TransportError as exc:
            last = exc
        await asyncio.sleep(0.25)
    raise AssertionError(f"{path}: condition not met within {within}s; last answer: {last!r}")


@contextlib.asynccontextmanager
async def running_prometheus(target: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A real Prometheus on 127.0.0.1 with the committed config, scraping ``target`` every second.

    Yields an API client once the sentinel target has been scraped successfully.
    """
    prom_port = free_port()
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(
        yaml.safe_dump(scrape_config(target, prom_port), allow_unicode=True), encoding="utf-8"
    )
    assert PROMETHEUS is not None
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            PROMETHEUS,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            stdout=log,
            stderr=log,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}", timeout=5) as client:
                await wait_for(client, "/-/ready", lambda body: True)

                def sentinel_target_up(body: Any) -> bool:
                    targets = [t for t in body["data"]["activeTargets"] if t["labels"]["job"] == "sentinel"]
                    return bool(targets) and targets[0]["health"] == "up"

                targets = await wait_for(client, "/api/v1/targets", sentinel_target_up)
                (target_info,) = [
                    t for t in targets["data"]["activeTargets"] if t["labels"]["job"] == "sentinel"
                ]
                assert target_info["lastError"] == ""
                yield client
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


def query(q: str) -> str:
    return f"/api/v1/query?query={q}"


@needs_prometheus
async def test_real_prometheus_scrapes_sentinel_and_runs_rules_and_dashboard(
    populated_server: WebServer, tmp_path: Path
) -> None:
    async with running_prometheus(f"127.0.0.1:{populated_server.port}", tmp_path) as client:
        body = await wait_for(client, query("sentinel_watch_risk_score"), lambda b: b["data"]["result"])
        (series,) = body["data"]["result"]
        assert series["metric"]["watch"] == "艾克美"
        assert float(series["value"][1]) == 88.0

        body = await wait_for(client, query("sentinel_posts_ingested_total"), lambda b: b["data"]["result"])
        (series,) = body["data"]["result"]
        assert (series["metric"]["source"], float(series["value"][1])) == ("weibo-acme", 42.0)

        # histograms, info metrics and the label set prometheus.yml adds come through too
        body = await wait_for(
            client, query("sentinel_classify_seconds_bucket"), lambda b: len(b["data"]["result"]) >= 14
        )
        assert {s["metric"]["deployment"] for s in body["data"]["result"]} == {"compose"}
        body = await wait_for(client, query("sentinel_build_info"), lambda b: b["data"]["result"])
        assert body["data"]["result"][0]["metric"]["version"]

        # the same alerts.yml is loaded and evaluates without errors on real series
        rules = await wait_for(
            client,
            "/api/v1/rules",
            lambda b: (
                all(
                    r.get("lastEvaluation", "").startswith("20")
                    for g in b["data"]["groups"]
                    for r in g["rules"]
                )
                and b["data"]["groups"]
            ),
        )
        all_rules = [r for g in rules["data"]["groups"] for r in g["rules"]]
        assert len(all_rules) >= 14
        assert {r["health"] for r in all_rules} == {"ok"}, [r for r in all_rules if r["health"] != "ok"]

        def red_pending(body: Any) -> bool:
            return any(
                a["labels"]["alertname"] == "SentinelWatchRed" and a["labels"]["watch"] == "艾克美"
                for a in body["data"]["alerts"]
            )

        alerts = await wait_for(client, "/api/v1/alerts", red_pending)
        (red,) = [a for a in alerts["data"]["alerts"] if a["labels"]["alertname"] == "SentinelWatchRed"]
        assert red["state"] in ("pending", "firing")
        assert float(red["value"]) == 88.0

        # every dashboard query is valid PromQL and finds series for the metrics that were set
        for expr in dashboard_exprs():
            r = await client.get("/api/v1/query", params={"query": expr})
            assert r.status_code == 200 and r.json()["status"] == "success", (expr, r.text)
        r = await client.get(
            "/api/v1/query",
            params={"query": 'max by (watch) (sentinel_watch_negative_ratio{watch=~".*"})'},
        )
        assert float(r.json()["data"]["result"][0]["value"][1]) == 0.61


DAEMON_CONFIG = """
[storage]
url = "sqlite:///{db}"
[metrics]
listen = "127.0.0.1:{port}"
[classifier]
type = "lexicon"
[logging]
json = true
[[source]]
name = "demo"
type = "simulated"
scenario = "demo"
brand = "艾克美"
interval = "1s"
[[watch]]
name = "艾克美"
query = "艾克美"
[[notify]]
type = "console"
"""


@needs_prometheus
async def test_real_prometheus_scrapes_a_running_sentinel(tmp_path: Path) -> None:
    """`sentinel run` itself (lexicon classifier, simulated demo source), scraped by Prometheus."""
    port = free_port()
    config = tmp_path / "sentinel.toml"
    config.write_text(DAEMON_CONFIG.format(db=tmp_path / "sentinel.db", port=port), encoding="utf-8")
    log_path = tmp_path / "sentinel.log"
    with log_path.open("wb") as log:
        daemon = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from sentinel.cli import main; main()",
            "run",
            "--config",
            str(config),
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as sentinel:
                await wait_for(sentinel, "/readyz", lambda body: all(body.values()), within=60)
                assert (await sentinel.get("/healthz")).json() == {"status": "ok"}
            async with running_prometheus(f"127.0.0.1:{port}", tmp_path) as client:
                body = await wait_for(
                    client,
                    query('sentinel_posts_ingested_total{source="demo"}'),
                    lambda b: b["data"]["result"] and float(b["data"]["result"][0]["value"][1]) > 0,
                )
                assert body["data"]["result"][0]["metric"]["platform"] == "weibo"
                body = await wait_for(
                    client, query("sentinel_classify_seconds_count"), lambda b: b["data"]["result"]
                )
                assert float(body["data"]["result"][0]["value"][1]) > 0
                up = await wait_for(client, query('up{job="sentinel"}'), lambda b: b["data"]["result"])
                assert up["data"]["result"][0]["value"][1] == "1"
        finally:
            if daemon.returncode is None:
                daemon.terminate()
                try:
                    await asyncio.wait_for(daemon.wait(), 20)
                except TimeoutError:
                    daemon.kill()
                    await daemon.wait()
    # SIGTERM is a clean stop, and the log is JSON lines from the first to the last
    assert daemon.returncode == 0, log_path.read_text(encoding="utf-8")[-3000:]
    lines = log_path.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert entries and len(entries) == len([ln for ln in lines if ln.strip()])
    assert any(e["msg"].startswith("http server listening") for e in entries)
