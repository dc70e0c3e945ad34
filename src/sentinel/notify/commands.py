"""``sentinel notify-test`` and ``sentinel notify-outbox``.

``notify-test`` sends one sample alert through each configured channel, directly (not via
the outbox), and prints what each service answered — the way to check a URL, a secret or
a keyword setting before the first real alert. ``notify-outbox`` shows what is waiting or
parked as dead in the store, and can give dead messages another try.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from sentinel.cliconfig import ConfigOption, load_or_exit
from sentinel.clock import SystemClock
from sentinel.config import Config, ConfigError, NotifyConfig
from sentinel.notify import build_notifier
from sentinel.notify.base import NotifyError
from sentinel.notify.sanitize import redact_text
from sentinel.obs.metrics import Metrics
from sentinel.risk.base import AlertEvent

__all__ = ["register", "sample_event"]

ChannelOption = Annotated[
    list[str] | None,
    typer.Option("--channel", help="Only this [[notify]] entry (its name, or its type); repeatable."),
]


def sample_event(note: str, level: str = "orange") -> AlertEvent:
    """A realistic alert, marked as a test in its sample post."""
    return AlertEvent(
        event="opened",
        watch="notify-test",
        level=level,
        risk={"blue": 35.0, "yellow": 55.0, "orange": 72.0, "red": 88.0}.get(level, 72.0),
        at=SystemClock().now(),
        factors={
            "negative_share": {"value": 0.68, "baseline": 0.21, "contribution": 28.0},
            "volume": {"value": 57, "baseline": 9.5, "contribution": 22.0},
            "velocity": {"value": 14.2, "baseline": None, "contribution": 12.0},
            "kol": {"value": 2, "baseline": None, "contribution": 10.0},
        },
        posts=["notify-test"],
        samples=[
            {
                "id": "notify-test",
                "text": note,
                "author": "sentinel",
                "followers": 0,
                "url": "https://example.com/sentinel/notify-test",
                "negative": 0.0,
            }
        ],
    )


def _select(cfg: Config, channels: list[str] | None) -> list[NotifyConfig]:
    if not channels:
        return list(cfg.notifiers)
    chosen = [n for n in cfg.notifiers if n.channel in channels or n.type in channels]
    known = {n.channel for n in cfg.notifiers} | {n.type for n in cfg.notifiers}
    missing = [c for c in channels if c not in known]
    if missing:
        names = ", ".join(sorted({n.channel for n in cfg.notifiers})) or "none"
        typer.echo(f"no [[notify]] entry named {', '.join(missing)} (configured: {names})", err=True)
        raise typer.Exit(2)
    return chosen


async def _test_one(config: NotifyConfig, level: str) -> tuple[bool, str]:
    clock = SystemClock()
    try:
        notifier: Any = build_notifier(config, clock=clock, metrics=Metrics())
    except ConfigError as exc:
        return False, f"config: {exc}"
    templates = getattr(notifier, "templates", None)
    note = templates.text("test_note") if templates is not None else "sentinel notify-test"
    try:
        await notifier.send([sample_event(note, level)])
    except NotifyError as exc:
        kind = "retryable" if exc.retryable else "permanent"
        return False, f"{redact_text(str(exc))} ({kind})"
    except Exception as exc:  # report anything, per channel, rather than a traceback
        return False, redact_text(f"{type(exc).__name__}: {exc}")
    finally:
        await notifier.close()
    return True, "ok"


def notify_test(
    channel: ChannelOption = None,
    config: ConfigOption = None,
    level: Annotated[str, typer.Option(help="Level of the sample alert: blue|yellow|orange|red.")] = "orange",
) -> None:
    """Send a sample alert through each configured channel and print each result."""
    if level not in ("blue", "yellow", "orange", "red"):
        typer.echo(f"--level must be blue, yellow, orange or red, not {level!r}", err=True)
        raise typer.Exit(2)
    cfg = load_or_exit(config)
    selected = _select(cfg, channel)
    if not selected:
        typer.echo("no [[notify]] entries are configured", err=True)
        raise typer.Exit(1)

    async def run_all() -> list[tuple[bool, str]]:
        return list(await asyncio.gather(*(_test_one(c, level) for c in selected)))

    results = asyncio.run(run_all())
    width = max(len(c.channel) for c in selected)
    for c, (ok, detail) in zip(selected, results, strict=True):
        typer.echo(
            f"{c.channel:<{width}}  {c.type:<8}  {'ok' if ok else 'FAILED'}" + ("" if ok else f"  {detail}")
        )
    if not all(ok for ok, _ in results):
        raise typer.Exit(1)


def notify_outbox(
    config: ConfigOption = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="List the dead letters.")] = False,
    retry_dead: Annotated[
        bool, typer.Option("--retry-dead", help="Give dead messages another full set of tries.")
    ] = False,
) -> None:
    """Show pending / sent / dead notification counts per channel (and the dead letters)."""
    from sentinel.store.sql import SqlStore

    cfg = load_or_exit(config)

    async def work() -> None:
        store = SqlStore(cfg.storage)
        try:
            await store.open()
            if retry_dead:
                n = await store.requeue_dead(channel)
                typer.echo(f"{n} dead message(s) queued again; a running sentinel sends them within seconds")
            counts = await store.outbox_counts()
            typer.echo(f"{'channel':<16} {'pending':>8} {'sent':>8} {'dead':>8}")
            for ch, c in sorted(counts.items()):
                if channel is None or ch == channel:
                    typer.echo(f"{ch:<16} {c['pending']:>8} {c['sent']:>8} {c['dead']:>8}")
            if dead:
                for e in await store.outbox_entries(status="dead", channel=channel):
                    ev = e.event
                    typer.echo(
                        f"dead #{e.id} {e.channel}: {ev.watch} {ev.event} {ev.level} at {ev.at.isoformat()} "
                        f"after {e.attempts} tries: {e.last_error}"
                    )
        finally:
            await store.close()

    asyncio.run(work())


def register(app: typer.Typer) -> None:
    """Add ``notify-test`` and ``notify-outbox`` to the ``sentinel`` command line."""
    app.command("notify-test")(notify_test)
    app.command("notify-outbox")(notify_outbox)
