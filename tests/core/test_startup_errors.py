"""Config values are range-checked, and start-up failures end in one line, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.config import ConfigError, config_from_dict, parse_duration

runner = CliRunner()
ROOT = Path(__file__).parents[2]


def _sentinel(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    return subprocess.run(
        [sys.executable, "-m", "sentinel.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("inf"), float("nan"), "inf", "99999999999d", "9" * 400, -1])
def test_durations_are_finite_and_bounded(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"storage": {"retention": float("inf")}}, "storage.retention"),
        ({"bus": {"batch_wait": float("nan")}}, "bus.batch_wait"),
        ({"risk": {"cooldown": float("inf")}}, "risk.cooldown"),
        ({"classifier": {"max_wait_ms": float("inf")}}, "classifier.max_wait_ms"),
        ({"source": [{"name": "s", "type": "file", "interval": float("nan")}]}, "source[0].interval"),
        ({"metrics": {"enabled": "no"}}, "metrics.enabled"),
        ({"source": [{"name": "s", "type": "file", "enabled": "no"}]}, "source[0].enabled"),
        ({"storage": {"url": "mysql://user:pw@db/sentinel"}}, "storage.url"),
        ({"notify": [{"type": "console", "watches": "acme"}]}, "notify[0].watches"),
    ],
)
def test_bad_values_are_refused_naming_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, environ={})
    assert f": {key}: " in str(info.value)
    assert "pw" not in str(info.value)  # a DSN's password never reaches the message


def test_env_values_are_read_as_the_keys_type() -> None:
    cfg = config_from_dict({}, environ={"SENTINEL_API__TOKEN": "12345", "SENTINEL_BUS__MAX_SIZE": "42"})
    assert cfg.api.token == "12345" and cfg.bus.max_size == 42
    cfg = config_from_dict({}, environ={"SENTINEL_LOGGING__JSON": "true"})
    assert cfg.logging.json_format is True


def test_env_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({}, path=tmp_path / "s.toml", environ={"SENTINEL_STORAGE__POOL_SIZE": "many"})
    message = str(info.value)
    assert message.startswith("environment variable SENTINEL_STORAGE__POOL_SIZE: storage.pool_size")
    assert "s.toml" not in message


def test_secrets_stay_out_of_config_reprs() -> None:
    cfg = config_from_dict(
        {
            "api": {"token": "tok-fixture"},
            "notify": [{"type": "webhook", "url": "http://h/x", "secret": "s-fx"}],
        },
        environ={},
    )
    assert "tok-fixture" not in repr(cfg) and "s-fx" not in repr(cfg)


@pytest.mark.parametrize("query", ["NOT 招聘", "NOT (招聘 OR 广告)", "艾克美 OR NOT 招聘"])
def test_a_watch_needs_a_term_that_must_be_present(tmp_path: Path, query: str) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        f'[classifier]\ntype = "lexicon"\n[[watch]]\nname = "acme"\nquery = "{query}"\n', encoding="utf-8"
    )
    result = runner.invoke(app, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "watch 'acme': query" in result.output and "at least one term" in result.output


def test_a_query_with_not_and_a_term_is_fine(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n[classifier]\ntype = "lexicon"\n'
        '[[watch]]\nname = "acme"\nquery = "艾克美 AND NOT 招聘"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 0, result.output


def test_check_config_finds_a_missing_model_and_an_unusable_database(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{blocker}/sub/s.db"\n[classifier]\nmodel = "{tmp_path}/no-model"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["check-config", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "classifier.model" in result.output and "no-model" in result.output
    assert "storage.url" in result.output and str(blocker) in result.output


# -- start-up, as a process ------------------------------------------------------------------------


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_run_refuses_a_storage_scheme_it_does_not_know(tmp_path: Path) -> None:
    cfg = _config(tmp_path, '[storage]\nurl = "mysql://user:pw@db/sentinel"\n')
    line = _one_line(_sentinel("run", "--config", str(cfg)))
    assert "storage.url" in line and "mysql" in line and str(cfg) in line and "pw" not in line


def test_run_refuses_an_infinite_retention(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "[storage]\nretention = inf\n")
    line = _one_line(_sentinel("run", "--config", str(cfg)))
    assert "storage.retention" in line and str(cfg) in line


def test_run_names_a_missing_model(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n[metrics]\nenabled = false\n'
        f'[classifier]\nmodel = "{tmp_path}/missing-model"\n',
    )
    line = _one_line(_sentinel("run", "--config", str(cfg)))
    assert "classifier.model" in line and "missing-model" in line


@pytest.mark.parametrize("kind", ["under-a-file", "a-directory"])
def test_run_names_an_unusable_database(tmp_path: Path, kind: str) -> None:
    # root may write anywhere, so "unwritable" is made with a file where a directory must be
    blocker = tmp_path / "blocker"
    if kind == "under-a-file":
        blocker.write_text("x", encoding="utf-8")
        db = blocker / "sub" / "s.db"
    else:
        blocker.mkdir()
        db = blocker
    cfg = _config(
        tmp_path,
        f'[storage]\nurl = "sqlite:///{db}"\n[metrics]\nenabled = false\n[classifier]\ntype = "lexicon"\n',
    )
    line = _one_line(_sentinel("run", "--config", str(cfg)))
    assert "storage.url" in line and str(db) in line


def test_run_names_an_unreachable_postgresql(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _config(
        tmp_path,
        f'[storage]\nurl = "postgresql://sentinel:pw-fixture@127.0.0.1:{port}/sentinel"\n'
        '[metrics]\nenabled = false\n[classifier]\ntype = "lexicon"\n',
    )
    line = _one_line(_sentinel("run", "--config", str(cfg)))
    assert line.startswith("cannot start: database") and f"127.0.0.1:{port}/sentinel" in line
    assert "pw-fixture" not in line


def test_run_names_a_metrics_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = _config(
            tmp_path,
            f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n[classifier]\ntype = "lexicon"\n'
            f'[metrics]\nlisten = "127.0.0.1:{port}"\n',
        )
        line = _one_line(_sentinel("run", "--config", str(cfg)))
    assert f"metrics.listen 127.0.0.1:{port}" in line and "in use" in line


def test_run_outside_the_project_says_where_it_looked(tmp_path: Path) -> None:
    line = _one_line(_sentinel("run", cwd=tmp_path))
    assert str(tmp_path / "config" / "sentinel.toml") in line and "--config" in line


def test_the_default_config_is_still_found_in_the_project_folder() -> None:
    # check-config reads the same default as run; from the repository it finds the demo config
    result = _sentinel("check-config", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "config/sentinel.toml: ok" in result.stdout
