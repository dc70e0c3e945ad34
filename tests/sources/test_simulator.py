"""The simulator itself: control endpoints, live replay, fault specs, and `sentinel simulate serve`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from sentinel.clock import ManualClock
from sentinel.simulate.faults import FaultPlan, parse_fault
from sentinel.simulate.feeds import Feed, builtin_posts, default_posts
from sentinel.simulate.server import SimulatorServer
from sentinel.sources.commands import load_scenario

from .conftest import free_port, make_posts

SEARCH = "/api/container/getIndex"
PARAMS = {"containerid": "100103type=61&q=艾克美&t=", "page": "1"}


async def test_control_endpoints_switch_faults_and_add_posts(simulator):
    async with httpx.AsyncClient(base_url=simulator.url) as client:
        r = await client.post("/_posts", content="\n".join(json.dumps(p) for p in make_posts(3)))
        assert r.json()["posts"] == 3
        r = await client.post("/_faults", json={"spec": "search=500:1"})
        assert json.loads(r.text) == {"search": [{"kind": "500", "times": 1, "arg": None, "after": 0}]}
        assert (await client.get(SEARCH, params=PARAMS)).status_code == 500
        ok = await client.get(SEARCH, params=PARAMS)
        assert ok.status_code == 200 and ok.json()["ok"] == 1
        await client.post("/_faults", json={"endpoint": "*", "kind": "429", "arg": 7})
        limited = await client.get("/feed/rss")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
        await client.delete("/_faults")
        assert (await client.get("/feed/rss")).status_code == 200
        assert (await client.post("/_faults", json={"endpoint": "nope", "kind": "500"})).status_code == 400
        assert (await client.post("/_posts", json=[{"id": "x"}])).status_code == 400
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/healthz")).json() == {"ok": True, "posts": 3}


async def test_live_mode_serves_only_posts_whose_time_has_come(clock: ManualClock):
    posts = make_posts(3, start=clock.now() - timedelta(minutes=1))  # at -1, 0 and +1 minutes
    async with SimulatorServer(Feed(posts), clock=clock, live=True) as srv, httpx.AsyncClient() as client:
        r = await client.get(srv.url + "/api/posts")
        assert [x["mid"] for x in r.json()["data"]["list"]] == [posts[1]["id"], posts[0]["id"]]
        clock.advance(timedelta(minutes=2))
        r = await client.get(srv.url + "/api/posts")
        assert len(r.json()["data"]["list"]) == 3


async def test_timeout_fault_delays_and_server_stops_cleanly(clock: ManualClock):
    async with SimulatorServer(Feed(make_posts(1)), clock=clock) as srv, httpx.AsyncClient() as client:
        srv.faults.add_spec("posts=timeout@30")
        with pytest.raises(httpx.ReadTimeout):
            await client.get(srv.url + "/api/posts", timeout=0.2)
    # leaving the block cancelled the sleeping handler: nothing hangs, nothing leaks


def test_fault_specs() -> None:
    assert parse_fault("search=429:2@1.5")[1].arg == 1.5
    assert parse_fault("*=timeout")[0] == "*"
    for bad in ("search", "search=nope", "bogus=500", "search=500:0"):
        with pytest.raises(ValueError):
            parse_fault(bad)
    plan = FaultPlan()
    plan.add_spec("*=duplicate:1")
    plan.add_spec("rss=500")
    assert [f.kind for f in plan.take("rss")] == ["500", "duplicate"]
    assert [f.kind for f in plan.take("rss")] == ["500"]


def test_generated_streams_are_deterministic_and_valid() -> None:
    a, b = list(builtin_posts(50, seed=3)), list(builtin_posts(50, seed=3))
    assert a == b and len({p["id"] for p in a}) == 50
    assert any(p["repost_of"] for p in a)
    assert Feed(a) is not None  # every post is a valid canonical post
    demo = default_posts("demo")
    assert demo and all("label" not in p for p in demo)
    Feed(demo)


def test_load_scenario_skips_invalid_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join([json.dumps(make_posts(1)[0]), "{broken", "", json.dumps({"id": 1})]) + "\n")
    posts, skipped = load_scenario(path)
    assert len(posts) == 1 and skipped == 2


def test_cli_serve_with_scenario_and_fault(tmp_path: Path) -> None:
    scenario = tmp_path / "posts.jsonl"
    scenario.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in make_posts(12)) + "\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sentinel.cli import main; main()",
            "simulate",
            "serve",
            "--port",
            str(port),
            "--scenario",
            str(scenario),
            "--fault",
            "search=500:1",
            "--style",
            "absolute",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("simulator did not start") from None
                time.sleep(0.1)
        assert httpx.get(url + SEARCH, params=PARAMS).status_code == 500
        page = httpx.get(url + SEARCH, params=PARAMS).json()
        assert page["data"]["cardlistInfo"]["total"] == 12
        assert "<rss" in httpx.get(url + "/feed/rss").text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize(
    "module",
    [
        "sentinel.sources.http",
        "sentinel.sources.html",
        "sentinel.sources.weibo",
        "sentinel.sources.weibo_parse",
        "sentinel.sources.wechat",
        "sentinel.sources.rss",
        "sentinel.sources.jsonfeed",
        "sentinel.sources.mqtt",
        "sentinel.sources.commands",
        "sentinel.simulate.server",
        "sentinel.simulate.feeds",
        "sentinel.simulate.faults",
    ],
)
def test_public_surface_is_explicit(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    assert len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
