"""``sentinel simulate scenario``: write a labelled synthetic stream as JSON lines."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from sentinel.clock import UTC8

__all__ = ["register_simulate"]


def register_simulate(simulate: typer.Typer) -> None:
    """Add ``scenario`` to the ``sentinel simulate`` group."""

    @simulate.command("scenario")
    def scenario(
        name: Annotated[
            str, typer.Option("--name", help="demo | background | month | an incident kind")
        ] = "month",
        days: Annotated[float | None, typer.Option("--days", help="length of multi-day scenarios")] = None,
        seed: Annotated[int, typer.Option("--seed")] = 0,
        out: Annotated[Path | None, typer.Option("--out", help="JSONL file (default: stdout)")] = None,
        start: Annotated[str, typer.Option("--start", help="ISO 8601 start")] = "2026-11-01T00:00:00+08:00",
        brand: Annotated[str, typer.Option("--brand")] = "艾克美",
        volume: Annotated[
            float, typer.Option("--volume", help="background posts/hour at the daily peak")
        ] = 40.0,
    ) -> None:
        """Write a labelled stream: each post has "label": {"phase", "incident"}."""
        from sentinel.simulate.scenario import SCENARIOS, generate

        if name not in SCENARIOS:
            typer.echo(f"--name: unknown scenario {name!r}; known: {', '.join(SCENARIOS)}", err=True)
            raise typer.Exit(2)
        try:
            when = datetime.fromisoformat(start)
        except ValueError:
            typer.echo(f"--start: not ISO 8601: {start}", err=True)
            raise typer.Exit(2) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC8)
        stream = out.open("w", encoding="utf-8") if out is not None else sys.stdout
        n = 0
        try:
            for record in generate(name, start=when, seed=seed, brand=brand, days=days, volume=volume):
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                n += 1
        finally:
            if out is not None:
                stream.close()
        if out is not None:
            typer.echo(f"{out}: {n} posts ({name}, seed {seed})", err=True)
