"""What every ``sentinel`` command does with ``--config``: the option, and loading it.

A config that does not load ends the command with exit status 2 and one line per problem,
each naming the file (or environment variable) and the key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from sentinel.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from sentinel.store import SqlStore

__all__ = ["ConfigOption", "config_error", "fail", "load_or_exit", "with_store"]

T = TypeVar("T")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config (default: config/sentinel.toml).")
]


def config_error(exc: object) -> None:
    """Print a config error, one ``config error: …`` line per problem, on stderr."""
    for line in str(exc).splitlines():
        typer.echo(f"config error: {line}", err=True)


def load_or_exit(path: Path | None) -> Config:
    """The config at ``path`` (or the default places), or exit 2 naming what is wrong."""
    try:
        return load_config(path)
    except ConfigError as exc:
        config_error(exc)
        raise typer.Exit(2) from None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` on stderr; the exit to raise (status 2: a usage or input error)."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def with_store(cfg: Config, work: Callable[[SqlStore], Awaitable[T]]) -> T:
    """Open the configured store, run ``work`` on it, close it (the caller maps errors)."""
    from sentinel.store import SqlStore

    async def go() -> T:
        store = SqlStore(cfg.storage)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())
