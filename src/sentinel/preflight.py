"""What can fail at start, checked before starting, and start-up failures told in one line.

``sentinel check-config`` runs :func:`static_problems` (nothing is opened, bound or
loaded); ``sentinel run`` runs :func:`preflight` (the same, plus whether the metrics
address can be bound) and turns what still fails while starting into one line with
:func:`describe_failure`: which part failed (database, metrics address, model) and where.

>>> from sentinel.config import config_from_dict
>>> static_problems(config_from_dict({"classifier": {"type": "lexicon"}}, environ={}))
[]
"""

from __future__ import annotations

import errno
import os
import socket
import traceback
from pathlib import Path

from sentinel.config import Config
from sentinel.obs.logs import redact
from sentinel.paths import REPO_ROOT, find

__all__ = ["describe_failure", "model_problem", "preflight", "static_problems", "storage_problem"]

_ROLES_WITH_MODEL = ("all", "classify")


def model_problem(cfg: Config) -> str | None:
    """Whether the transformer's model directory (with its config.json) can be found."""
    if cfg.classifier.type != "transformer":
        return None
    model = Path(cfg.classifier.model).expanduser()
    if model.is_absolute():
        if (model / "config.json").is_file():
            return None
        tried = str(model)
    else:
        if find(model, "config.json") is not None:
            return None
        tried = f"{Path.cwd() / model}, {REPO_ROOT / model}"
    return f"classifier.model: no model directory (with config.json) at {str(cfg.classifier.model)!r}; tried {tried}"


def _sqlite_path(url: str) -> Path | None:
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0].lower() != "sqlite":
        return None
    path = rest[1:] if rest.startswith("/") else rest  # sqlite:///rel or sqlite:////abs
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path).expanduser().absolute()


def storage_problem(cfg: Config) -> str | None:
    """Whether the SQLite file (or the directory it goes in) can be written."""
    path = _sqlite_path(cfg.storage.url)
    if path is None:
        return None
    if path.is_dir():
        return f"storage.url: {path} is a directory, not a database file"
    if path.exists():
        return None if os.access(path, os.R_OK | os.W_OK) else f"storage.url: cannot write {path}"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"storage.url: cannot create {path}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"storage.url: cannot create {path}: directory {parent} is not writable"
    return None


def static_problems(cfg: Config) -> list[str]:
    """What can be checked without opening, binding or loading anything."""
    return [p for p in (storage_problem(cfg), model_problem(cfg)) if p]


def _listen_problem(cfg: Config) -> str | None:
    if not cfg.metrics.enabled or cfg.metrics.port == 0:
        return None
    host, port = cfg.metrics.host, cfg.metrics.port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"metrics.listen {cfg.metrics.listen}: cannot resolve {host!r}: {exc}"
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # as asyncio.start_server binds: a port in TIME_WAIT is usable, one someone listens on is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            return f"metrics.listen {cfg.metrics.listen}: {_os_reason(exc)}"
    return None


def preflight(cfg: Config, role: str = "all") -> list[str]:
    """:func:`static_problems` for what ``role`` uses, and whether the metrics address is free."""
    problems = [storage_problem(cfg), _listen_problem(cfg)]
    if role in _ROLES_WITH_MODEL:
        problems.append(model_problem(cfg))
    return [p for p in problems if p]


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (is another sentinel running? choose another [metrics] listen)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no such address on this machine"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return exc.strerror or str(exc)


def _storage_where(cfg: Config) -> str:
    path = _sqlite_path(cfg.storage.url)
    if path is not None:
        return str(path)
    scheme, _, rest = cfg.storage.url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2].split('?', 1)[0]}"  # no user, no password


def _frames(exc: BaseException) -> list[str]:
    files = [f.filename.replace("\\", "/") for f in traceback.extract_tb(exc.__traceback__)]
    cause = exc.__cause__ or exc.__context__
    return files + (_frames(cause) if cause is not None and cause is not exc else [])


def describe_failure(exc: BaseException, cfg: Config) -> str | None:
    """One line for a failure while starting (database, metrics address, model), or None."""
    frames = _frames(exc)

    def passed(*parts: str) -> bool:
        return any(part in f for f in frames for part in parts)

    try:
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError
    except ImportError:  # pragma: no cover - a dependency
        DBAPIError = SQLAlchemyError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig) if exc.orig is not None else str(exc)
        return redact(
            f"database {_storage_where(cfg)}: {reason.splitlines()[0] if reason else type(exc).__name__}"
        )
    if isinstance(exc, SQLAlchemyError):
        return redact(f"database {_storage_where(cfg)}: {str(exc).splitlines()[0]}")
    if isinstance(exc, FileNotFoundError) and "model" in str(exc):
        return redact(f"classifier.model: {exc}")
    if isinstance(exc, OSError):
        reason = _os_reason(exc) if exc.errno else str(exc)
        if passed("/sentinel/store/", "/sqlalchemy/", "/asyncpg/", "/aiosqlite/"):
            return redact(f"database {_storage_where(cfg)}: {reason}")
        if passed("/sentinel/web/asgi.py") or exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
            return f"metrics.listen {cfg.metrics.listen}: {reason}"
        if passed("/sentinel/bus/", "/aiomqtt/", "/paho/"):
            return redact(f"bus {cfg.bus.url}: {reason}")
        return redact(f"{type(exc).__name__}: {reason}")
    return None
