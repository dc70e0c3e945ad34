"""Typed configuration: one TOML file in the shape of DESIGN.md, validated at start.

* Every section has working defaults, so a file holds only what differs.
* ``"env:NAME"`` anywhere in a string value is read from the environment.
* ``SENTINEL_<SECTION>__<KEY>=value`` overrides a key of a table section,
  e.g. ``SENTINEL_STORAGE__URL=postgresql://...``. The value is read as the key's type:
  kept as text for text keys (``SENTINEL_API__TOKEN=12345``), as a TOML number or boolean
  for the others.
* Errors name the file and the key: ``sentinel.toml: source[1].interval: ...``, or the
  environment variable the value came from.
* Values are range-checked: durations are finite and at most 100 years, booleans are
  ``true`` / ``false`` (not ``"no"``), numbers are finite.

Source, watch and notifier sections keep options they do not know in ``options``:
each implementation validates its own (see ``sentinel.sources``, ``sentinel.notify``).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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
    "default_config_places",
    "find_default_config",
    "level_rank",
    "load_config",
    "parse_duration",
    "parse_options",
    "strict_bool",
]

OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(model: type[OptionsT], options: Mapping[str, Any]) -> OptionsT:
    """Validate a component's own options (a source's, a channel's) with ``model``; the
    ValueError names each offending key (the caller adds which component)."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(options)"
            msg = "unknown option" if e["type"] == "extra_forbidden" else e["msg"]
            problems.append(f"{key}: {msg}")
        raise ValueError("; ".join(problems)) from None


DEFAULT_CONFIG = Path("config/sentinel.toml")
LEVELS = ("blue", "yellow", "orange", "red")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION = 100 * 365 * 86400.0
"""The longest duration anything takes (100 years): beyond it a value is a typo, and
``now + duration`` would leave the range a date can hold."""
STORAGE_SCHEMES = ("sqlite", "postgresql", "postgres")


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
        raise ValueError(f"not a duration: {str(value)[:40]!r} (use e.g. '60s', '5m', '1h')")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be finite, got {str(value)[:40]!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"a duration may be at most 100 years, got {str(value)[:40]!r}")
    return seconds


def strict_bool(value: Any) -> bool:
    """``true`` or ``false`` only: a string such as ``"no"`` is refused, not read as true."""
    if isinstance(value, bool):
        return value
    raise ValueError(f"must be true or false (a TOML boolean, without quotes), got {str(value)[:40]!r}")


Duration = Annotated[float, BeforeValidator(parse_duration)]
Bool = Annotated[bool, BeforeValidator(strict_bool)]
Level = Literal["blue", "yellow", "orange", "red"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _OpenSection(BaseModel):
    """A section whose unknown keys are options for the implementation it names."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StorageConfig(_Section):
    url: str = "sqlite:///./sentinel.db"
    pool_size: int = Field(5, ge=1, le=200)
    retention: Duration = Field(30 * 86400.0, description="posts older than this are pruned")
    echo: Bool = False

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        scheme, sep, _ = url.partition("://")
        if not sep or scheme.split("+")[0].lower() not in STORAGE_SCHEMES:
            # only the scheme: the rest of a DSN may hold a password
            shown = f"{scheme[:20]!r}" if sep else "no scheme"
            raise ValueError(
                f"unsupported storage url ({shown}): use sqlite:///path/file.db or postgresql://user@host/db"
            )
        return url


class BusConfig(_Section):
    type: Literal["memory", "mqtt"] = "memory"
    url: str = "mqtt://127.0.0.1:1883"
    max_size: int = Field(10_000, ge=1, description="posts held before producers wait")
    batch_size: int = Field(256, ge=1, le=10_000)
    batch_wait: Duration = 0.05
    client_id: str | None = None
    username: str | None = None
    password: str | None = Field(None, repr=False)
    topic_prefix: str = "sentinel"
    session_expiry: Duration = 3600.0


class ScaleConfig(_Section):
    """``[scale]``: how the split roles hand stored posts to the one scorer (docs/scaling.md)."""

    settle: Duration = Field(
        2.0, gt=0, description="without watermarks: score a post this long after it is stored"
    )
    stale: Duration = Field(300.0, gt=0, description="a busy collector silent this long is presumed gone")
    stall: Duration = Field(
        60.0, gt=0, description="a watermark never matched this long is given up on (logged)"
    )
    live_lag: Duration = Field(600.0, gt=0, description="event time this close to the wall clock is live")
    late_window: Duration = Field(
        3600.0, gt=0, description="event time behind the horizon still checked for late posts"
    )
    warm_window: Duration = Field(86400.0, gt=0, description="stored posts a new scorer replays to warm up")
    step_limit: int = Field(
        5000, ge=1, le=1_000_000, description="posts per scorer step (the lease renews between)"
    )
    watermark_keep: Duration = Field(
        7 * 86400.0, ge=3600, description="event time a collector keeps counts for"
    )


class MetricsConfig(_Section):
    enabled: Bool = True
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
    quantize: Bool = True
    label_map: dict[str, str] = Field(default_factory=dict)


class ApiConfig(_Section):
    """The alert API on the metrics server; refused entirely while no token is set."""

    token: str | None = Field(
        None, repr=False, description="bearer token for reads, e.g. env:SENTINEL_API_TOKEN"
    )
    write_token: str | None = Field(None, repr=False, description="bearer token for reads and writes")


class WebConfig(_Section):
    """The console at ``/`` (served with the metrics on ``[metrics] listen``)."""

    enabled: Bool = True
    public_url: str | None = Field(
        None, description="the console's address as people reach it (https://…); chat cards link to it"
    )
    session_ttl: Duration = Field(12 * 3600.0, ge=60, description="how long a sign-in lasts")
    login_attempts: int = Field(5, ge=1, le=1000, description="failed sign-ins per name or address...")
    login_window: Duration = Field(300.0, ge=1, description="...within this time, before a pause")
    secure_cookie: Bool = Field(False, description="mark the session cookie Secure (behind TLS)")

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"public_url must start with http:// or https://, got {value!r}")
        return None if value is None else value.rstrip("/")


class RiskConfig(_OpenSection):
    """Risk-engine tuning; see docs/risk.md. Unknown keys go to the engine."""

    cooldown: Duration = 600.0
    resolve_after: Duration = 1800.0


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: Bool = Field(False, alias="json")


class SourceConfig(_OpenSection):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    interval: Duration = 60.0
    enabled: Bool = True


class WatchConfig(_OpenSection):
    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    # the brand's own accounts (author ids): their posts belong to the watch as its responses,
    # never as negative evidence (docs/alerting.md "Which posts belong to a watch")
    accounts: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(default_factory=list)

    @field_validator("accounts", mode="before")
    @classmethod
    def _account_ids(cls, value: Any) -> Any:
        if isinstance(value, list):  # a numeric id written without quotes is still an id
            return [str(v).strip() if isinstance(v, int | str) and not isinstance(v, bool) else v for v in value]
        return value


class NotifyConfig(_OpenSection):
    type: str = Field(min_length=1)
    name: str | None = None
    url: str | None = Field(None, repr=False)
    secret: str | None = Field(None, repr=False)
    min_level: Level = "blue"
    watches: list[str] | None = None
    # an alert of this channel still unacknowledged after escalate_after is sent to escalate_to too
    escalate_after: Duration | None = Field(None, gt=0, description="e.g. 30m")
    escalate_to: str | None = Field(None, min_length=1, description="the name of another [[notify]] channel")

    @property
    def channel(self) -> str:
        return self.name or self.type


class DigestConfig(_Section):
    """``[[digest]]``: a briefing (舆情日报 / 周报) on a cron schedule, see docs/alerting.md."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    schedule: str = Field(description='cron, five fields: "0 9 * * *" is every day at 09:00')
    timezone: str = "Asia/Shanghai"
    period: Duration = Field(86400.0, gt=0, description="the span each briefing covers, up to its run")
    watches: list[str] = Field(min_length=1)
    competitors: list[str] = Field(default_factory=list)
    channels: list[str] | None = None  # [[notify]] names; default: every channel
    title: str | None = None  # default: 舆情日报 (a day or less) or 舆情周报
    lang: Literal["zh", "en"] = "zh"
    out: str = "digests"  # where the HTML briefings are kept
    link_base: str | None = None  # where `out` is served (https://…/digests/): the cards link there
    top: int = Field(10, ge=1, le=50)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc}); e.g. '0 9 * * *' or '0 9 * * mon'") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; e.g. Asia/Shanghai") from None
        return value

    @field_validator("link_base")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) address")
        return value


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    storage: StorageConfig = StorageConfig()
    bus: BusConfig = BusConfig()
    scale: ScaleConfig = ScaleConfig()
    metrics: MetricsConfig = MetricsConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    risk: RiskConfig = RiskConfig()
    api: ApiConfig = ApiConfig()
    web: WebConfig = WebConfig()
    logging: LoggingConfig = LoggingConfig()
    sources: list[SourceConfig] = Field(default_factory=list, alias="source")
    watches: list[WatchConfig] = Field(default_factory=list, alias="watch")
    notifiers: list[NotifyConfig] = Field(default_factory=list, alias="notify")
    digests: list[DigestConfig] = Field(default_factory=list, alias="digest")
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for kind, names in (
            ("source", [s.name for s in self.sources]),
            ("watch", [w.name for w in self.watches]),
            ("notify", [n.channel for n in self.notifiers]),
            ("digest", [d.name for d in self.digests]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"duplicate {kind} name {name!r}")
                seen.add(name)
        return self

    @model_validator(mode="after")
    def _escalation(self) -> Config:
        channels = {n.channel for n in self.notifiers}
        for n in self.notifiers:
            if (n.escalate_after is None) != (n.escalate_to is None):
                raise ValueError(f"notify {n.channel!r}: escalate_after and escalate_to go together")
            if n.escalate_to is not None and (n.escalate_to not in channels or n.escalate_to == n.channel):
                raise ValueError(
                    f"notify {n.channel!r}: escalate_to {n.escalate_to!r} is not another notify channel"
                    f" (known: {', '.join(sorted(channels))})"
                )
        return self

    @model_validator(mode="after")
    def _digest_references(self) -> Config:
        watches = {w.name for w in self.watches}
        channels = {n.channel for n in self.notifiers}
        for i, d in enumerate(self.digests):
            for key, names, known in (
                ("watches", d.watches, watches),
                ("competitors", d.competitors, watches),
                ("channels", d.channels or [], channels),
            ):
                unknown = [n for n in names if n not in known]
                if unknown:
                    raise ValueError(
                        f"digest[{i}] ({d.name!r}).{key}: unknown {', '.join(map(repr, unknown))}"
                        f" (known: {', '.join(sorted(known)) or 'none'})"
                    )
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


def _apply_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Apply ``SENTINEL_<SECTION>__<KEY>`` variables; return which key each one set."""
    origins: dict[tuple[str, ...], str] = {}
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
            node[path[-1]] = raw if _is_text(path) else _coerce(raw)
            origins[tuple(path)] = key
    return origins


def _field(path: list[str]) -> Any:
    """The annotation of the config key at ``path`` (``["api", "token"]``), or None."""
    model: Any = Config
    annotation: Any = None
    for part in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = next(
            (f for name, f in model.model_fields.items() if part in (name, f.alias)),
            None,
        )
        if info is None:
            return None
        annotation = model = info.annotation
    return annotation


def _is_text(path: list[str]) -> bool:
    """Whether the key takes text: its environment value is then kept as given."""
    annotation = _field(path)
    if annotation is None:
        return False
    if get_origin(annotation) in (Union, types.UnionType):
        kinds = {a for a in get_args(annotation) if a is not type(None)}
    else:
        kinds = {annotation}
    return kinds == {str}


def _coerce(raw: str) -> Any:
    """Environment values are strings; read TOML scalars (numbers, booleans) as such."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _format_loc(loc: tuple[int | str, ...]) -> str:
    # only the top-level lists have TOML names that differ (notify[0].watches stays watches)
    aliases = {"sources": "source", "watches": "watch", "notifiers": "notify"}
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = aliases.get(part, part) if i == 0 else part
            out += f".{part}" if out else part
    return out or "(top level)"


def _error_line(where: str, error: Any, origins: Mapping[tuple[str, ...], str]) -> str:
    loc = tuple(str(p) for p in error["loc"])
    key = _format_loc(error["loc"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    for path, variable in origins.items():
        if loc[: len(path)] == path:  # the value came from the environment, not the file
            return f"environment variable {variable}: {key}: {msg}"
        if loc and path[: len(loc)] == loc:
            return f"{where}: {key}: {msg} (environment variable {variable} sets {'.'.join(path)})"
    return f"{where}: {key}: {msg}"


def config_from_dict(
    data: dict[str, Any], *, path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    environ = os.environ if environ is None else environ
    where = str(path) if path else "<config>"
    data = dict(data)
    origins = _apply_overrides(data, environ)
    try:
        data = _resolve_env(data, "", environ)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = [_error_line(where, e, origins) for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    return config.model_copy(update={"path": path})


def default_config_places() -> list[Path]:
    """Where a config is looked for when none is named: ``config/sentinel.toml`` here."""
    return [Path.cwd() / DEFAULT_CONFIG]


def find_default_config() -> Path | None:
    """The first of :func:`default_config_places` that exists, or None."""
    return next((p for p in default_config_places() if p.is_file()), None)


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
