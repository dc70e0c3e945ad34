"""What every ``sentinel`` command does with ``--config``: the option, and loading it.

A config that does not load ends the command with exit status 2 and one line per problem,
each naming the file (or environment variable) and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sentinel.config import Config, ConfigError, load_config

__all__ = ["ConfigOption", "config_error", "load_or_exit"]

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
