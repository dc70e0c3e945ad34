"""Typed configuration: one TOML file in the shape of DESIGN.md, validated at start.

* Every section has working defaults, so a file holds only what differs.
* ``"env:NAME"`` anywhere in a string value is read from the environment.
* ``SENTINEL_<SECTION>__<KEY>=value`` overrides a key of a table section,
  e.g. ``SENTINEL_STORAGE__URL=postgresql://...``.
* Errors name the file and the key: ``sentinel.toml: source[1].interval: ...``.

Source, watch and notifier sections keep options they do not know in ``options``:
each implementation validates its own (see ``sentinel.sources``, ``sentinel.notify``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ApiConfig",
    "BusConfig",
    "ClassifierConfig",
    "Config",
    "ConfigError",
    "LoggingConfig",
    "MetricsConfig",
    "NotifyConfig",
    "RiskConfig",
    "SourceConfig",
    "StorageConfig",
    "WatchConfig",
    "config_from_dict",
    "level_rank",
    "load_config",
    "parse_duration",
]

DEFAULT_CONFIG = Path("config/sentinel.toml")
LEVELS = ("blue", "yellow", "orange", "red")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(Exception):
    """The configuration is invalid; the message names the file and the key."""


def parse_duration(value: Any) -> float:
    """``"90s"``, ``"5m"``, ``"1.5h"``, ``"2d"``, ``"250ms"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration, e.g. '60s', '5m', '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use e.g. '60s', '5m', '1h')")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
Level = Literal["blue", "yellow", "orange", "red"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _OpenSection(BaseModel):
    """A section whose unknown keys are options for the implementation it names."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StorageConfig(_Section):
    url: str = "sqlite:///./sentinel.db"
    pool_size: int = Field(5, ge=1, le=200)
    retention: Duration = Field(30 * 86400.0, description="posts older than this are pruned")
    echo: bool = False


class BusConfig(_Section):
    type: Literal["memory", "mqtt"] = "memory"
    url: str = "mqtt://127.0.0.1:1883"
    max_size: int = Field(10_000, ge=1, description="posts held before producers wait")
    batch_size: int = Field(256, ge=1, le=10_000)
    batch_wait: Duration = 0.05
    client_id: str | None = None
    username: str | None = None
    password: str | None = None
    topic_prefix: str = "sentinel"
    session_expiry: Duration = 3600.0


class MetricsConfig(_Section):
    enabled: bool = True
    listen: str = "127.0.0.1:9464"

    @model_validator(mode="after")
    def _check_listen(self) -> MetricsConfig:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"listen must be HOST:PORT, got {self.listen!r}")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class ClassifierConfig(_Section):
    type: str = "transformer"
    model: str = "models/default"
    threads: int = Field(2, ge=1, le=256)
    batch_size: int = Field(64, ge=1, le=4096)
    max_wait_ms: float = Field(10, ge=0)
    max_length: int = Field(128, ge=8, le=4096)
    neutral_band: float = Field(0.15, ge=0, lt=0.5)
    quantize: bool = True
    label_map: dict[str, str] = Field(default_factory=dict)


class ApiConfig(_Section):
    """The alert API on the metrics server; refused entirely while no token is set."""

    token: str | None = Field(None, description="bearer token for reads, e.g. env:SENTINEL_API_TOKEN")
    write_token: str | None = Field(None, description="bearer token for reads and writes")


class RiskConfig(_OpenSection):
    """Risk-engine tuning; see docs/risk.md. Unknown keys go to the engine."""

    cooldown: Duration = 600.0
    resolve_after: Duration = 1800.0


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(False, alias="json")


class SourceConfig(_OpenSection):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    interval: Duration = 60.0
    enabled: bool = True


class WatchConfig(_OpenSection):
    name: str = Field(min_length=1)
    query: str = Field(min_length=1)


class NotifyConfig(_OpenSection):
    type: str = Field(min_length=1)
    name: str | None = None
    url: str | None = None
    secret: str | None = None
    min_level: Level = "blue"
    watches: list[str] | None = None

    @property
    def channel(self) -> str:
        return self.name or self.type


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    storage: StorageConfig = StorageConfig()
    bus: BusConfig = BusConfig()
    metrics: MetricsConfig = MetricsConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    risk: RiskConfig = RiskConfig()
    api: ApiConfig = ApiConfig()
    logging: LoggingConfig = LoggingConfig()
    sources: list[SourceConfig] = Field(default_factory=list, alias="source")
    watches: list[WatchConfig] = Field(default_factory=list, alias="watch")
    notifiers: list[NotifyConfig] = Field(default_factory=list, alias="notify")
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for kind, names in (
            ("source", [s.name for s in self.sources]),
            ("watch", [w.name for w in self.watches]),
            ("notify", [n.channel for n in self.notifiers]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"duplicate {kind} name {name!r}")
                seen.add(name)
        return self

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file (file sources, models) are resolved from the current directory."""
        return Path.cwd()


def _resolve_env(value: Any, where: str, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return environ[name]
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{where}.{k}" if where else k, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{where}[{i}]", environ) for i, v in enumerate(value)]
    return value


def _apply_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for key, raw in environ.items():
        if not key.startswith("SENTINEL_") or "__" not in key:
            continue
        path = key[len("SENTINEL_") :].lower().split("__")
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[path[-1]] = _coerce(raw)


def _coerce(raw: str) -> Any:
    """Environment values are strings; read TOML scalars (numbers, booleans) as such."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _format_loc(loc: tuple[int | str, ...]) -> str:
    aliases = {"sources": "source", "watches": "watch", "notifiers": "notify"}
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = aliases.get(part, part)
            out += f".{part}" if out else part
    return out or "(top level)"


def config_from_dict(
    data: dict[str, Any], *, path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    environ = os.environ if environ is None else environ
    where = str(path) if path else "<config>"
    data = dict(data)
    _apply_overrides(data, environ)
    try:
        data = _resolve_env(data, "", environ)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"{where}: {_format_loc(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    return config.model_copy(update={"path": path})


def load_config(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate a config file; with no path, ``config/sentinel.toml`` if present, else defaults."""
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return config_from_dict({}, environ=environ)
        path = DEFAULT_CONFIG
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return config_from_dict(data, path=path, environ=environ)


def level_rank(level: str) -> int:
    """blue=1 .. red=4; anything else 0."""
    return LEVELS.index(level) + 1 if level in LEVELS else 0
