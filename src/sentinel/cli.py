"""The ``sentinel`` command line (DESIGN.md fixes run, classify, backtest and export)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from sentinel import __version__
from sentinel.cliconfig import ConfigOption, config_error, load_or_exit
from sentinel.config import (
    Config,
    ConfigError,
    default_config_places,
    find_default_config,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="sentinel",
    help="Crisis early-warning for Chinese social media.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
simulate_app = typer.Typer(help="Local simulators and labelled scenarios.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(simulate_app, name="simulate")

log = logging.getLogger("sentinel")


def _setup_logging(config: Config) -> None:
    from sentinel.obs.logs import setup_logging

    setup_logging(config.logging)


@app.command()
def run(
    config: ConfigOption = None,
    role: Annotated[str, typer.Option(help="all | collect | classify | score | notify")] = "all",
) -> None:
    """Run the daemon until SIGINT/SIGTERM."""
    from sentinel.allocator import limit_arenas
    from sentinel.preflight import describe_failure, preflight

    if config is None and find_default_config() is None:
        looked = ", ".join(str(p) for p in default_config_places())
        typer.echo(
            f"no config file: looked for {looked}; run from the project folder or pass --config FILE",
            err=True,
        )
        raise typer.Exit(2)
    limit_arenas()  # before the classifier's and the database's threads allocate
    cfg = load_or_exit(config)
    problems = preflight(cfg, role)
    if problems:
        for problem in problems:
            typer.echo(f"cannot start: {problem}", err=True)
        raise typer.Exit(1)
    _setup_logging(cfg)
    from sentinel.roles import build_daemon

    daemon = None
    try:
        daemon = build_daemon(cfg, role)
        asyncio.run(daemon.run())
    except ConfigError as exc:
        config_error(exc)
        raise typer.Exit(2) from None
    except Exception as exc:  # start-up failures: one line naming what failed, not a traceback
        message = describe_failure(exc, cfg)
        if message is None:
            raise
        log.debug("start-up failure", exc_info=True)
        started = daemon is not None and daemon.started
        typer.echo(f"{'sentinel stopped' if started else 'cannot start'}: {message}", err=True)
        raise typer.Exit(1) from None


@app.command()
def backtest(
    input: Annotated[Path, typer.Option("--input", "-i", help="Posts, one canonical JSON object a line.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Alert events, one JSON line each.")],
    config: ConfigOption = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Also load the posts and alerts into this store (sqlite:///case.db, postgresql://…) "
            "to review the case with report / alerts / review; nothing is notified.",
        ),
    ] = None,
) -> None:
    """Replay a recorded stream through scoring and risk in event time (deterministic)."""
    cfg = load_or_exit(config)
    from sentinel.backtest import StoreSink, run_backtest

    problem = _backtest_paths_problem(input, output)
    if problem:
        typer.echo(problem, err=True)
        raise typer.Exit(2)
    output.parent.mkdir(parents=True, exist_ok=True)
    if store is None:
        with input.open("rb") as src, output.open("w", encoding="utf-8") as out:
            summary = run_backtest(cfg, src, out, progress=sys.stderr.isatty())
        typer.echo(summary.render(), err=True)
        return
    from contextlib import ExitStack

    with ExitStack() as stack:
        try:
            sink = stack.enter_context(StoreSink(cfg, store))
        except ValueError as exc:  # a bad URL, a store that already holds the case
            typer.echo(f"--store: {exc}", err=True)
            raise typer.Exit(2) from None
        src = stack.enter_context(input.open("rb"))
        out = stack.enter_context(output.open("w", encoding="utf-8"))
        summary = run_backtest(cfg, src, out, progress=sys.stderr.isatty(), sink=sink)
    typer.echo(summary.render(), err=True)
    typer.echo(f"store: {sink.posts} posts, {sink.events} alert events loaded into {store}", err=True)


def _backtest_paths_problem(input: Path, output: Path) -> str | None:
    """Why ``--input`` / ``--output`` cannot be used (opening the output empties it)."""
    if not input.exists():
        return f"input not found: {input}"
    if input.is_dir():
        return f"--input {input} is a directory; give a JSONL file of posts"
    if output.is_dir():
        return f"--output {output} is a directory; give a file name for the alert events"
    if output.exists() and input.samefile(output):  # also through a symlink or a hard link
        return f"--output {output} is the input file: writing the alerts would erase the posts"
    return None


@app.command()
def export(
    config: ConfigOption = None,
    watch: Annotated[
        str | None,
        typer.Option(
            help="Only this watch's posts: matching its query, reposting one, or its own accounts'."
        ),
    ] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 start (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 end (exclusive).")] = None,
) -> None:
    """Write stored posts (with sentiment and topics) as canonical JSON lines, oldest first."""
    cfg = load_or_exit(config)

    def when(value: str | None, name: str) -> datetime | None:
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            typer.echo(f"--{name}: not ISO 8601: {value}", err=True)
            raise typer.Exit(2) from None
        if parsed.tzinfo is None:
            typer.echo(f"--{name}: needs a UTC offset, e.g. {value}+08:00", err=True)
            raise typer.Exit(2)
        return parsed

    if watch is not None and not any(w.name == watch for w in cfg.watches):
        typer.echo(f"no watch named {watch!r} in the config", err=True)
        raise typer.Exit(2)
    asyncio.run(_export(cfg, when(since, "since"), when(until, "until"), watch))


async def _export(cfg: Config, since: datetime | None, until: datetime | None, watch: str | None) -> None:
    from sentinel.post import strict_json
    from sentinel.store import SqlStore

    store = SqlStore(cfg.storage)
    await store.open()
    try:
        out = sys.stdout
        if watch is None:
            async for sp in store.scored_posts(since=since, until=until):
                out.write(strict_json(sp.to_dict()) + "\n")  # never NaN, which is not JSON
            return
        # the watch's posts as decided when stored: matches, the reposts of them (through the
        # chain) and the brand's own posts (docs/alerting.md "Which posts belong to a watch")
        from sentinel.alerting.posts import use_config_watches

        await use_config_watches(store, cfg)
        async for wp in store.iter_watch_posts(watch, since, until):
            out.write(strict_json(wp.scored.to_dict()) + "\n")
    finally:
        await store.close()


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply the database migrations and decide the watches' posts (both also done at start)."""
    cfg = load_or_exit(config)
    from sentinel.store import SqlStore

    async def go() -> dict[str, int]:
        from sentinel.alerting.posts import use_config_watches

        store = SqlStore(cfg.storage)
        await store.open()
        try:  # a store from before post_watches, or a watch whose rule changed: decided now
            return await use_config_watches(store, cfg)
        finally:
            await store.close()

    decided = asyncio.run(go())
    typer.echo(f"database at head: {cfg.storage.url.split('@')[-1]}")
    for name, n in decided.items():
        typer.echo(f"watch {name}: {n} stored post(s) decided to belong (query, reposts, own accounts)")


@app.command("check-config")
def check_config(config: ConfigOption = None) -> None:
    """Validate the config (sections, sources, watches, notifiers) without running."""
    cfg = load_or_exit(config)
    problems: list[str] = []
    where = str(cfg.path or "<defaults>")
    from sentinel.preflight import static_problems
    from sentinel.risk import build_risk_engine

    problems += [f"{where}: {p}" for p in static_problems(cfg)]

    try:
        build_risk_engine(cfg)  # parses every query and risk option
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
    from sentinel.notify import check_notifiers

    problems += [f"{where}: {p}" for p in check_notifiers(list(cfg.notifiers))]
    problems += _check_sources(cfg, where)
    if problems:
        config_error("\n".join(problems))
        raise typer.Exit(2)
    typer.echo(
        f"{where}: ok ({len(cfg.sources)} source(s), {len(cfg.watches)} watch(es), "
        f"{len(cfg.notifiers)} notifier(s), storage {cfg.storage.url.split('://')[0]})"
    )


def _check_sources(cfg: Config, where: str) -> list[str]:
    """Build each source (validating its options) without starting it."""
    from sentinel.clock import SystemClock
    from sentinel.obs.metrics import Metrics
    from sentinel.sources import build_source
    from sentinel.sources.base import SourceContext, SourceHealth

    class _NoCursors:
        async def get_cursor(self, source: str) -> str | None:
            return None

        async def set_cursor(self, source: str, cursor: str) -> None:
            return None

    problems = []
    metrics = Metrics()
    for i, sc in enumerate(cfg.sources):
        ctx = SourceContext(
            config=sc,
            clock=SystemClock(),
            cursors=_NoCursors(),
            metrics=metrics,
            health=SourceHealth(sc.name, metrics),
        )
        try:
            source = build_source(ctx)
        except ConfigError as exc:
            problems.append(f"{where}: source[{i}]: {exc}")
            continue
        asyncio.run(source.close())
    return problems


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"sentinel {__version__}")


# Commands that live beside the subsystem they drive: each module has register(app) or
# register_simulate(simulate_app).
_PLUGINS = (
    ("sentinel.nlp.commands", "register", app),
    ("sentinel.notify.commands", "register", app),
    ("sentinel.alerting.commands", "register", app),
    ("sentinel.web.commands", "register", app),
    ("sentinel.sources.commands", "register_simulate", simulate_app),
    ("sentinel.risk.commands", "register_simulate", simulate_app),
)
for _module, _hook, _target in _PLUGINS:
    try:
        getattr(importlib.import_module(_module), _hook)(_target)
    except ModuleNotFoundError as _exc:
        if _exc.name is None or not _module.startswith(_exc.name):
            raise


def main() -> None:
    app()


if __name__ == "__main__":
    main()
