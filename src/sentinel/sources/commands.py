"""``sentinel simulate serve``: the local Weibo / WeChat / feed simulator, from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from sentinel.clock import UTC8, SystemClock
from sentinel.post import PostError, parse_post_json
from sentinel.simulate.faults import ENDPOINTS, FAULT_KINDS, FaultPlan

__all__ = ["load_scenario", "register_simulate"]

log = logging.getLogger(__name__)


def load_scenario(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Canonical posts from a JSONL file -> (posts, lines skipped as invalid)."""
    posts: list[dict[str, Any]] = []
    skipped = 0
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                posts.append(parse_post_json(line).to_dict())
            except PostError:
                skipped += 1
    return posts, skipped


def register_simulate(simulate: typer.Typer) -> None:
    """Add ``serve`` to the ``sentinel simulate`` group."""

    @simulate.command("serve")
    def serve(
        port: Annotated[int, typer.Option(help="TCP port (0: any free one)")] = 8088,
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        scenario: Annotated[
            Path | None, typer.Option(help="JSONL of canonical posts to serve (default: a generated stream)")
        ] = None,
        generate: Annotated[
            str, typer.Option(help="generated scenario without --scenario, e.g. demo, month")
        ] = "demo",
        seed: Annotated[int, typer.Option(help="seed of the generated scenario")] = 0,
        fault: Annotated[
            list[str] | None,
            typer.Option(
                help=f"ENDPOINT=KIND:TIMES@ARG (TIMES, ARG optional); endpoints {', '.join(ENDPOINTS)}, *; "
                f"kinds {', '.join(FAULT_KINDS)}"
            ),
        ] = None,
        rate: Annotated[float | None, typer.Option(help="release N posts per second, stamped 'now'")] = None,
        style: Annotated[str, typer.Option(help="Weibo times and counters: absolute | mixed")] = "mixed",
        page_size: Annotated[int, typer.Option(help="cards per Weibo page")] = 10,
    ) -> None:
        """Serve Weibo-, WeChat- and feed-shaped APIs on 127.0.0.1, with switchable faults.

        Without --scenario the generated stream starts now and is played in real time;
        a --scenario file is served all at once (or at --rate posts per second).
        """
        from sentinel.simulate.feeds import default_posts
        from sentinel.simulate.server import serve_forever

        plan = FaultPlan()
        try:
            for spec in fault or []:
                plan.add_spec(spec)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--fault") from None
        if style not in ("absolute", "mixed"):
            raise typer.BadParameter("absolute or mixed", param_hint="--style")
        if rate is not None and rate <= 0:
            raise typer.BadParameter("must be positive", param_hint="--rate")
        live = False
        if scenario is not None:
            try:
                posts, skipped = load_scenario(scenario)
            except OSError as exc:
                raise typer.BadParameter(f"cannot read {scenario}: {exc}", param_hint="--scenario") from None
            if skipped:
                typer.echo(f"skipped {skipped} invalid lines of {scenario}", err=True)
        else:
            now = SystemClock().now().astimezone(UTC8).replace(microsecond=0)
            # the demo starts now and plays in real time; longer scenarios are history up to now
            start = now if generate == "demo" else now - timedelta(days=32)
            try:
                posts = default_posts(generate, start=start, seed=seed)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--generate") from None
            live = rate is None
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                serve_forever(
                    posts,
                    host=host,
                    port=port,
                    faults=plan,
                    rate=rate,
                    live=live,
                    style=style,
                    page_size=page_size,
                )
            )
