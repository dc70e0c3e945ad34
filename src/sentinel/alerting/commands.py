"""``sentinel alerts …``, ``sentinel response …``, ``sentinel report`` and ``sentinel review …``.

They work on the same store as the daemon (running or not): what they change is seen by the
daemon's next alert event (acknowledgements, silences) and recorded in the audit trail.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from sentinel.alerting.manage import ALL_WATCHES, AlertManager, AlertNotFound, AlertRecord, AlertStateError
from sentinel.alerting.responses import KINDS, ResponseLog, evaluate_effect
from sentinel.cliconfig import ConfigOption, fail, load_or_exit, with_store
from sentinel.clock import UTC8, SystemClock
from sentinel.config import Config, parse_duration
from sentinel.risk.base import AlertEvent
from sentinel.store.sql import SqlStore
from sentinel.times import parse_when

__all__ = ["register"]

T = TypeVar("T")

ByOption = Annotated[str | None, typer.Option("--by", help="Who is doing this (default: your login name).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

alerts_app = typer.Typer(help="Alerts: list, show, acknowledge, resolve, silence.", no_args_is_help=True)
response_app = typer.Typer(
    help="Record the company's responses and measure their effect.", no_args_is_help=True
)
digest_app = typer.Typer(help="Briefings (舆情日报 / 周报): make one now, list them.", no_args_is_help=True)
review_app = typer.Typer(
    help="The written part of a review (复盘): 原因, 得失, 改进; the report keeps it.", no_args_is_help=True
)


def _run(cfg: Config, work: Callable[[SqlStore], Awaitable[T]]) -> T:
    try:
        return with_store(cfg, work)
    except AlertNotFound as exc:
        raise fail(str(exc), 1) from None
    except AlertStateError as exc:
        raise fail(str(exc), 1) from None
    except (ValueError, OverflowError) as exc:
        raise fail(f"error: {exc}") from None


def _when(value: str, name: str) -> datetime:
    try:
        return parse_when(value, SystemClock().now())
    except ValueError as exc:
        raise fail(f"--{name}: {exc}") from None


def _by(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _show(dt: datetime | None) -> str:
    return "-" if dt is None else dt.astimezone(UTC8).strftime("%Y-%m-%d %H:%M")


async def _known_watches(cfg: Config, store: SqlStore) -> set[str]:
    return {w.name for w in cfg.watches} | await store.alert_watches()


async def _check_watch(cfg: Config, store: SqlStore, watch: str, *, everything: bool = False) -> None:
    if everything and watch == ALL_WATCHES:
        return
    known = await _known_watches(cfg, store)
    if watch not in known:
        names = ", ".join(sorted(known)) or "none configured"
        raise ValueError(f"unknown watch {watch!r} (known: {names})")


def _alert_line(a: AlertRecord, peak: AlertEvent | None = None) -> str:
    ack = f"acked by {a.acked_by}" if a.acked_by else "not acked"
    top = f"peak {peak.level:<7} {peak.risk:5.1f}  " if peak is not None else ""
    now = f"now {a.level:<7} {a.risk:5.1f}" if a.status == "open" else f"now {'-':<7} {'':>5}"
    return f"#{a.id:<5} {a.watch:<16} {now}  {top}{a.status:<8} opened {_show(a.opened_at)}  {ack}"


def _peak(events: list[AlertEvent]) -> AlertEvent | None:
    """The highest level an alert reached (its highest risk at that level)."""
    from sentinel.config import level_rank

    live = [e for e in events if e.event != "resolved"]
    return max(live, key=lambda e: (level_rank(e.level), e.risk)) if live else None


def _factor_lines(ev: AlertEvent) -> list[str]:
    """An event's factors as the engine wrote them: value, baseline, share of the risk."""
    out = []
    for name, f in ev.factors.items():
        if isinstance(f, dict) and "contribution" in f:
            base = f.get("baseline")
            out.append(
                f"{name:<15} {_num(f.get('value')):>10}"
                + (f" (baseline {_num(base)})" if base is not None else "")
                + f"  -> {_num(f.get('contribution'))} of the risk"
            )
        elif isinstance(f, int | float | str) and not isinstance(f, bool) and name not in ("ack_note",):
            out.append(f"{name:<15} {f}")
    return out


def _num(x: Any) -> str:
    if not isinstance(x, int | float) or isinstance(x, bool):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


# -- alerts -----------------------------------------------------------------------------------------


@alerts_app.command("list")
def alerts_list(
    config: ConfigOption = None,
    watch: Annotated[str | None, typer.Option(help="Only this watch.")] = None,
    status: Annotated[str, typer.Option(help="open | resolved | all")] = "all",
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first (times in UTC+8)."""
    if status not in ("open", "resolved", "all"):
        raise fail("--status must be open, resolved or all")
    cfg = load_or_exit(config)
    alerts = _run(
        cfg,
        lambda s: AlertManager(s, SystemClock()).list_alerts(
            watch=watch, status=None if status == "all" else status, limit=limit
        ),
    )
    peaks = _run(cfg, lambda s: _peaks(s, alerts))
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        **a.to_json(),
                        "peak_level": p.level if p else None,
                        "peak_risk": round(p.risk, 1) if p else None,
                    }
                    for a, p in zip(alerts, peaks, strict=True)
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not alerts:
        typer.echo("no alerts")
    for a, p in zip(alerts, peaks, strict=True):
        typer.echo(_alert_line(a, p))


async def _peaks(store: SqlStore, alerts: list[AlertRecord]) -> list[AlertEvent | None]:
    m = AlertManager(store, SystemClock())
    return [_peak(await m.events(a.id)) for a in alerts]


@alerts_app.command("show")
def alerts_show(alert_id: int, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """One alert: its events (with factors and sample posts) and its audit trail."""
    cfg = load_or_exit(config)

    async def work(store: SqlStore) -> tuple[Any, Any, Any]:
        m = AlertManager(store, SystemClock())
        alert = await m.get(alert_id)
        return alert, await m.events(alert_id), await m.audit_trail(target=f"alert:{alert_id}")

    alert, events, audit = _run(cfg, work)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "alert": alert.to_json(),
                    "events": [e.to_record() for e in events],
                    "audit": [a.to_json() for a in audit],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo(_alert_line(alert, _peak(events)))
    if alert.ack_note:
        typer.echo(f"  note: {alert.ack_note}")
    for ev in events:
        typer.echo(f"  {_show(ev.at)}  {ev.event:<11} {ev.level:<7} risk {ev.risk:5.1f}")
        for line in _factor_lines(ev):
            typer.echo(f"      {line}")
        for sample in ev.samples[:3]:
            text = " ".join(str(sample.get("text") or "").split())[:80]
            typer.echo(f"      ▸ @{sample.get('author') or '?'}: {text}")
    for entry in reversed(audit):
        typer.echo(
            f"  {_show(entry.at)}  {entry.action} by {entry.actor}"
            + (f": {entry.data.get('note')}" if entry.data.get("note") else "")
        )


@alerts_app.command("ack")
def alerts_ack(
    alert_id: int,
    config: ConfigOption = None,
    by: ByOption = None,
    note: Annotated[str | None, typer.Option(help="What is being done about it.")] = None,
) -> None:
    """Acknowledge an alert: later notifications for it say who has it."""
    cfg = load_or_exit(config)
    alert = _run(cfg, lambda s: AlertManager(s, SystemClock()).ack(alert_id, actor=_by(by), note=note))
    typer.echo(_alert_line(alert))


@alerts_app.command("resolve")
def alerts_resolve(
    alert_id: int,
    config: ConfigOption = None,
    by: ByOption = None,
    note: Annotated[str | None, typer.Option(help="Why it is over.")] = None,
) -> None:
    """Resolve an open alert by hand."""
    cfg = load_or_exit(config)
    alert = _run(cfg, lambda s: AlertManager(s, SystemClock()).resolve(alert_id, actor=_by(by), note=note))
    typer.echo(_alert_line(alert))


@alerts_app.command("silence")
def alerts_silence(
    watch: Annotated[str, typer.Option(help="The watch to silence ('*': every watch).")],
    config: ConfigOption = None,
    duration: Annotated[str | None, typer.Option("--for", help="How long, e.g. 2h, 30m.")] = None,
    until: Annotated[str | None, typer.Option(help="Until when (ISO 8601 with offset, or now+2h).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    by: ByOption = None,
) -> None:
    """Hold back notifications for a watch for a while (alerts are still recorded)."""
    if (duration is None) == (until is None):
        raise fail("give exactly one of --for and --until")
    cfg = load_or_exit(config)
    now = SystemClock().now()
    if duration is not None:
        try:
            end = now + timedelta(seconds=parse_duration(duration))
        except (ValueError, OverflowError) as exc:
            raise fail(f"--for: {exc}") from None
    else:
        end = _when(until or "", "until")

    async def work(store: SqlStore) -> Any:
        await _check_watch(cfg, store, watch, everything=True)
        return await AlertManager(store, SystemClock()).silence(
            watch, until=end, actor=_by(by), reason=reason
        )

    silence = _run(cfg, work)
    typer.echo(f"silence #{silence.id}: {watch} until {_show(silence.ends_at)} (UTC+8)")


@alerts_app.command("silences")
def alerts_silences(
    config: ConfigOption = None,
    watch: Annotated[str | None, typer.Option(help="Only this watch.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Expired ones too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List silences (active ones unless --all)."""
    cfg = load_or_exit(config)
    silences = _run(
        cfg, lambda s: AlertManager(s, SystemClock()).silences(watch=watch, active_only=not show_all)
    )
    if as_json:
        typer.echo(json.dumps([x.to_json() for x in silences], ensure_ascii=False, indent=2))
        return
    if not silences:
        typer.echo("no silences")
    for x in silences:
        typer.echo(
            f"#{x.id:<4} {x.watch:<16} {_show(x.starts_at)} .. {_show(x.ends_at)}  by {x.created_by}"
            + (f": {x.reason}" if x.reason else "")
        )


@alerts_app.command("unsilence")
def alerts_unsilence(silence_id: int, config: ConfigOption = None, by: ByOption = None) -> None:
    """End a silence now."""
    cfg = load_or_exit(config)
    silence = _run(cfg, lambda s: AlertManager(s, SystemClock()).expire_silence(silence_id, actor=_by(by)))
    typer.echo(f"silence #{silence.id} on {silence.watch} ended {_show(silence.ends_at)}")


# -- responses --------------------------------------------------------------------------------------


@response_app.command("add")
def response_add(
    watch: Annotated[str, typer.Option(help="The watch the response is about.")],
    kind: Annotated[str, typer.Option(help=" | ".join(KINDS))],
    config: ConfigOption = None,
    at: Annotated[str, typer.Option(help="When it went out (ISO 8601 with offset, or now-30m).")] = "now",
    note: Annotated[str | None, typer.Option(help="What was said or done.")] = None,
    url: Annotated[str | None, typer.Option(help="Where it was published.")] = None,
    by: ByOption = None,
) -> None:
    """Record a response (statement, apology, recall, clarification, other)."""
    if kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)}")
    cfg = load_or_exit(config)
    when = _when(at, "at")

    async def work(store: SqlStore) -> Any:
        await _check_watch(cfg, store, watch)
        return await ResponseLog(store, SystemClock()).add(
            watch, at=when, kind=kind, actor=_by(by), note=note, url=url
        )

    r = _run(cfg, work)
    typer.echo(f"response #{r.id}: {r.kind} for {r.watch} at {_show(r.at)} (UTC+8)")


@response_app.command("list")
def response_list(
    config: ConfigOption = None,
    watch: Annotated[str | None, typer.Option(help="Only this watch.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List recorded responses, oldest first."""
    cfg = load_or_exit(config)
    rs = _run(cfg, lambda s: ResponseLog(s, SystemClock()).list(watch=watch))
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in rs], ensure_ascii=False, indent=2))
        return
    for r in rs:
        typer.echo(f"#{r.id:<4} {r.watch:<16} {_show(r.at)}  {r.kind:<13} {r.note or ''}")


@response_app.command("effect")
def response_effect(
    watch: Annotated[str, typer.Option(help="The watch.")],
    config: ConfigOption = None,
    window: Annotated[str, typer.Option(help="Length of the before and after windows.")] = "6h",
    as_json: JsonOption = False,
) -> None:
    """Measure each response's effect against the course the crisis was on, with intervals."""
    cfg = load_or_exit(config)
    try:
        span = timedelta(seconds=parse_duration(window))
    except ValueError as exc:
        raise fail(f"--window: {exc}") from None

    async def work(store: SqlStore) -> list[Any]:
        from sentinel.alerting.posts import load_watch_posts

        clock = SystemClock()
        responses = await ResponseLog(store, clock).list(watch=watch)
        events = sorted(await store.alert_events(watch=watch), key=lambda e: e.at)
        data_until = await store.last_post_at(until=clock.now())
        effects = []
        for r in responses:
            found = await load_watch_posts(store, cfg, watch, since=r.at - span, until=r.at + span)
            effects.append(
                evaluate_effect(r, found.posts, events, now=clock.now(), window=span, data_until=data_until)
            )
        return effects

    effects = _run(cfg, work)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in effects], ensure_ascii=False, indent=2))
        return
    if not effects:
        typer.echo(f"no responses recorded for {watch}")
    from sentinel.alerting.responses import effect_lines

    for e in effects:
        for line in effect_lines(e, _show):
            typer.echo(line)


# -- report -----------------------------------------------------------------------------------------


def _tz(value: str) -> tzinfo:
    if value.upper() in ("UTC", "Z"):
        return UTC
    m = re.fullmatch(r"(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?", value.strip(), re.IGNORECASE)
    if not m:
        raise fail(f"--tz: use an offset like +08:00 or UTC, got {value!r}")
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
    return timezone(delta if m.group(1) == "+" else -delta)


def report(
    watch: Annotated[str, typer.Option(help="The watch to report on.")],
    since: Annotated[str, typer.Option("--from", help="Start (ISO 8601 with offset, or now-7d).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for report.html, report.md, charts/.")],
    until: Annotated[str, typer.Option("--to", help="End (exclusive).")] = "now",
    config: ConfigOption = None,
    window: Annotated[str, typer.Option(help="Before/after window for response effects.")] = "6h",
    tz: Annotated[str, typer.Option(help="Time zone for the report's times.")] = "+08:00",
    force: Annotated[bool, typer.Option("--force", help="Overwrite a report already in --out.")] = False,
    lang: Annotated[str, typer.Option(help="zh (default) or en.")] = "zh",
) -> None:
    """Write the review report (复盘) of a watch: self-contained HTML, Markdown, JSON."""
    from sentinel.alerting.render import LANGS

    if lang not in LANGS:
        raise fail(f"--lang must be one of {', '.join(LANGS)}, got {lang!r}")
    cfg = load_or_exit(config)
    start, end = _when(since, "from"), _when(until, "to")
    try:
        span = timedelta(seconds=parse_duration(window))
    except ValueError as exc:
        raise fail(f"--window: {exc}") from None
    zone = _tz(tz)
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file; give a directory for report.html, report.md and charts/")
    if not force and (out / "report.html").exists():
        raise fail(f"--out {out} already holds a report; add --force to overwrite it")

    async def work(store: SqlStore) -> Any:
        from sentinel.alerting.report import build_report

        await _check_watch(cfg, store, watch)
        return await build_report(
            store, cfg, watch, since=start, until=end, clock=SystemClock(), window=span, tz=zone
        )

    data = _run(cfg, work)
    from sentinel.alerting.render import write_report

    files = write_report(data, out, lang)
    if sys.stderr.isatty():
        typer.echo(
            f"{data.posts} posts, {len(data.alerts)} alert(s), {len(data.responses)} response(s)", err=True
        )
    typer.echo(str(files.html))


# -- review ---------------------------------------------------------------------------------------


@review_app.command("note")
def review_note(
    watch: Annotated[str, typer.Argument(help="The watch the review is about.")],
    text: Annotated[str, typer.Argument(help="What to write.")],
    section: Annotated[
        str, typer.Option("--section", help="原因 | 得失 | 改进 (or cause | lessons | improve).")
    ],
    config: ConfigOption = None,
    by: ByOption = None,
) -> None:
    """Add a note to a section of the watch's review; every later report shows it."""
    from sentinel.alerting.review import ReviewNotes, section_name

    try:
        name = section_name(section)
    except ValueError as exc:
        raise fail(f"--section: {exc}") from None
    cfg = load_or_exit(config)

    async def work(store: SqlStore) -> Any:
        await _check_watch(cfg, store, watch)
        return await ReviewNotes(store, SystemClock()).add(watch, name, text, actor=_by(by))

    note = _run(cfg, work)
    typer.echo(f"{note.watch} · {note.section}: noted by {note.by} at {_show(note.at)} (UTC+8)")


@review_app.command("notes")
def review_notes(
    watch: Annotated[str, typer.Argument(help="The watch.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The notes of a watch's review, by section, oldest first."""
    from sentinel.alerting.review import SECTIONS, ReviewNotes

    cfg = load_or_exit(config)
    notes = _run(cfg, lambda s: ReviewNotes(s, SystemClock()).list(watch))
    if as_json:
        typer.echo(json.dumps([n.to_json() for n in notes], ensure_ascii=False, indent=2))
        return
    for section in SECTIONS:
        typer.echo(f"{section}:")
        mine = [n for n in notes if n.section == section]
        if not mine:
            typer.echo("  (none yet)")
        for n in mine:
            typer.echo(f"  {_show(n.at)}  {n.by}: {n.text}")


# -- digest ---------------------------------------------------------------------------------------


@digest_app.command("run")
def digest_run(
    name: Annotated[str, typer.Argument(help="The [[digest]] entry's name.")],
    config: ConfigOption = None,
    until: Annotated[str, typer.Option("--until", help="End of the period (default: now).")] = "now",
    send: Annotated[
        bool, typer.Option("--send/--no-send", help="Deliver to its channels, or only write it.")
    ] = True,
) -> None:
    """Make a briefing now: write its HTML, mail it, announce it on the chat channels."""
    cfg = load_or_exit(config)
    spec = next((d for d in cfg.digests if d.name == name), None)
    if spec is None:
        names = ", ".join(d.name for d in cfg.digests) or "none configured"
        raise fail(f"unknown digest {name!r} (known: {names})")
    end = _when(until, "until")

    async def work(store: SqlStore) -> Any:
        from sentinel.alerting.digest import period_end
        from sentinel.digest import run_digest
        from sentinel.notify import build_notifiers
        from sentinel.obs.metrics import Metrics

        clock = SystemClock()
        notifiers = build_notifiers(cfg.notifiers, clock=clock, metrics=Metrics()) if send else []
        try:
            return await run_digest(cfg, spec, store, clock, notifiers, until=period_end(end), deliver=send)
        finally:
            for n in notifiers:
                await n.close()

    run = _run(cfg, work)
    for channel, why in run.failed.items():
        typer.echo(f"{channel}: failed: {why}", err=True)
    if run.sent:
        typer.echo(f"sent to {', '.join(run.sent)}", err=True)
    typer.echo(str(run.path))
    if run.failed:
        raise typer.Exit(1)


@digest_app.command("list")
def digest_list(config: ConfigOption = None) -> None:
    """The configured briefings, their schedules and next runs."""
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.cron import CronTrigger

    cfg = load_or_exit(config)
    if not cfg.digests:
        typer.echo("no digests configured")
    now = SystemClock().now()
    for d in cfg.digests:
        zone = ZoneInfo(d.timezone)
        nxt = CronTrigger.from_crontab(d.schedule, timezone=zone).get_next_fire_time(
            None, now.astimezone(zone)
        )
        typer.echo(
            f"{d.name:<12} {d.schedule:<16} {d.timezone:<16} next {nxt:%Y-%m-%d %H:%M} "
            f"watches {', '.join(d.watches)}"
            + (f"; competitors {', '.join(d.competitors)}" if d.competitors else "")
        )


def register(app: typer.Typer) -> None:
    """Add ``alerts``, ``response``, ``report`` and ``review`` to the ``sentinel`` command line."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(response_app, name="response")
    app.add_typer(review_app, name="review")
    app.add_typer(digest_app, name="digest")
    app.command("report")(report)
