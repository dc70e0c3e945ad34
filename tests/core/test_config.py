from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.config import ConfigError, config_from_dict, load_config, parse_duration


def test_defaults_work_without_a_file() -> None:
    cfg = config_from_dict({}, environ={})
    assert cfg.storage.url.startswith("sqlite:///")
    assert cfg.bus.type == "memory"
    assert cfg.metrics.port == 9464


def test_shipped_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "config" / "sentinel.toml", environ={})
    assert cfg.watches and cfg.sources and cfg.notifiers


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1.5h", 5400), ("2d", 172800), (30, 30), ("250ms", 0.25)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_env_indirection_and_override() -> None:
    data = {"notify": [{"type": "dingtalk", "url": "env:DT_URL", "secret": "env:DT_SECRET"}]}
    env = {
        "DT_URL": "http://127.0.0.1:1/robot/send?access_token=x",
        "DT_SECRET": "s3",
        "SENTINEL_STORAGE__URL": "sqlite:///./other.db",
        "SENTINEL_BUS__MAX_SIZE": "42",
    }
    cfg = config_from_dict(data, environ=env)
    assert cfg.notifiers[0].secret == "s3"
    assert cfg.storage.url == "sqlite:///./other.db"
    assert cfg.bus.max_size == 42


def test_missing_env_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[[notify]]\ntype = "slack"\nurl = "env:NOPE_URL"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(path) in str(err.value) and "notify[0].url" in str(err.value) and "NOPE_URL" in str(err.value)


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('[[source]]\nname = "a"\ntype = "file"\ninterval = "soon"\n', "source[0].interval"),
        ('[bus]\ntype = "kafka"\n', "bus.type"),
        ('[metrics]\nlisten = "nowhere"\n', "metrics"),
        ('[storage]\nurll = "x"\n', "storage.urll"),
        ('[[watch]]\nname = "a"\n', "watch[0].query"),
        ('[[notify]]\ntype = "slack"\nmin_level = "purple"\n', "notify[0].min_level"),
        ('[[watch]]\nname = "a"\nquery = "x"\n[[watch]]\nname = "a"\nquery = "y"\n', "duplicate watch"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, toml: str, where: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(path) in str(err.value)
    assert where in str(err.value)


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[storage\nurl=", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(path, environ={})


def test_check_config_command(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.toml"
    good.write_text('[[watch]]\nname = "acme"\nquery = "艾克美 OR ACME"\n', encoding="utf-8")
    result = runner.invoke(app, ["check-config", "--config", str(good)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nname = "x"\ntype = "telepathy"\n', encoding="utf-8")
    result = runner.invoke(app, ["check-config", "--config", str(bad)])
    assert result.exit_code == 2
    assert "source[0]" in result.output and "telepathy" in result.output
