"""The Grafana dashboard and provisioning files, checked against the metrics that exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinel.risk.options import DEFAULT_THRESHOLDS

from .names import exported_series, families, family_of, referenced

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "config" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "sentinel.json"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def exprs(dashboard: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    found += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    found += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return found


def test_stable_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "sentinel-overview"
    assert dashboard["title"] == "sentinel"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_panels_are_well_formed(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for t in panel["targets"]:
            assert t["expr"].strip() and t["datasource"]["uid"] == "${datasource}", panel["title"]


def test_no_two_panels_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard):
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_references_only_metrics_that_exist(dashboard: dict[str, Any]) -> None:
    known = exported_series()
    used = set().union(*(referenced(e) for e in exprs(dashboard)))
    assert used, "the dashboard queries no sentinel metric"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"


def test_shows_every_metric(dashboard: dict[str, Any]) -> None:
    shown = {family_of(s) for e in exprs(dashboard) for s in referenced(e)}
    assert set(families()) - shown == set()


def test_covers_what_operators_look_for(dashboard: dict[str, Any]) -> None:
    titles = {p["title"] for p in panels(dashboard)}
    for wanted in (
        "Risk score",
        "Warning level",
        "Volume against baseline",
        "Negative share",
        "Since last success",
        "Blocked",
        "Pipeline latency",
        "Notifications",
        "Outbox",
    ):
        assert wanted in titles


def test_risk_bands_are_the_default_thresholds(dashboard: dict[str, Any]) -> None:
    (risk,) = [p for p in panels(dashboard) if p["title"] == "Risk score"]
    defaults = risk["fieldConfig"]["defaults"]
    assert defaults["custom"]["thresholdsStyle"]["mode"] in ("area", "line+area")
    steps = {s["color"]: s["value"] for s in defaults["thresholds"]["steps"] if s["value"] is not None}
    assert steps == DEFAULT_THRESHOLDS
    (level,) = [p for p in panels(dashboard) if p["title"] == "Warning level"]
    names = level["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert [names[str(i)]["text"] for i in range(5)] == ["none", "blue", "yellow", "orange", "red"]


def test_datasource_provisioning_matches_the_dashboard(dashboard: dict[str, Any]) -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (ds,) = provisioned["datasources"]
    assert ds["type"] == "prometheus"
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert variable["current"]["value"] == ds["uid"]
    prometheus = yaml.safe_load((ROOT / "config" / "prometheus" / "prometheus.yml").read_text())
    assert ds["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]


def test_dashboard_provider() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "sentinel.yml").read_text())
    (p,) = provider["providers"]
    assert p["type"] == "file"
    assert p["options"]["path"].startswith("/")
