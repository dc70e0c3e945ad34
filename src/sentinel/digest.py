"""Running the briefings: one now (``sentinel digest run NAME``), or each on its cron schedule
inside the daemon (:class:`DigestScheduler`).

A run builds the briefing (:mod:`sentinel.alerting.digest`), keeps its HTML in the digest's
``out`` directory, mails it through the ``smtp`` channels and announces it on the chat
channels with a card that links to it. A channel that fails is logged and reported; the
others still get theirs, and the HTML file is there either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sentinel.alerting.digest import (
    Briefing,
    build_briefing,
    card_colour,
    period_end,
    summary_lines,
    write_briefing,
)
from sentinel.clock import Clock
from sentinel.config import Config, DigestConfig
from sentinel.notify.base import Notifier, NotifyError
from sentinel.notify.briefing import BriefingCard, send_card
from sentinel.store.sql import SqlStore

__all__ = ["DigestRun", "DigestScheduler", "run_digest"]

log = logging.getLogger("sentinel")


@dataclass(slots=True)
class DigestRun:
    """What one run made and where it went (``failed``: channel -> why)."""

    briefing: Briefing
    path: Path
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _out_dir(config: Config, spec: DigestConfig) -> Path:
    out = Path(spec.out)
    if not out.is_absolute() and config.path is not None:
        out = config.path.parent / out  # relative to the config file, like the store's path
    return out


async def run_digest(
    config: Config,
    spec: DigestConfig,
    store: SqlStore,
    clock: Clock,
    notifiers: list[Notifier],
    *,
    until: datetime | None = None,
    deliver: bool = True,
) -> DigestRun:
    """Build, keep and deliver the briefing ``spec`` for the period ending ``until`` (default:
    now, to the minute)."""
    b = await build_briefing(store, config, spec, until=until or period_end(clock.now()), clock=clock)
    run = DigestRun(b, write_briefing(b, _out_dir(config, spec)))
    if not deliver:
        return run
    from sentinel.alerting.digest import render_briefing
    from sentinel.notify.smtp import Mail, SmtpNotifier

    lines = summary_lines(b)
    link_text = "查看完整简报" if spec.lang == "zh" else "Open the briefing"
    card = BriefingCard(
        f"📰 {b.title} · {'、'.join(spec.watches)} · {b.until.astimezone(b.tz):%m-%d}",
        lines,
        b.link(),
        link_text,
        card_colour(b),
    )
    wanted = set(spec.channels) if spec.channels is not None else None
    for n in notifiers:
        if wanted is not None and n.channel not in wanted:
            continue
        try:
            if isinstance(n, SmtpNotifier):
                text = "\n".join([card.title, "", *lines, "", card.link or ""])
                await n.send_mail(
                    Mail(subject=card.title.removeprefix("📰 "), text=text, html=render_briefing(b))
                )
            else:
                await send_card(n, card)
        except NotifyError as exc:
            log.error("digest %s: %s", spec.name, exc)
            run.failed[n.channel] = str(exc)
        else:
            run.sent.append(n.channel)
    log.info("digest %s: %s, sent to %s", spec.name, run.path, ", ".join(run.sent) or "no channel")
    return run


class DigestScheduler:
    """The ``[[digest]]`` entries on their cron schedules, in the daemon's event loop.

    Cron triggers fire on the wall clock (APScheduler's own timers) in each digest's time
    zone; a run that is still going when the next one is due is not started twice, and a run
    missed by less than an hour (the daemon was busy or restarting) still happens.
    """

    def __init__(self, config: Config, store: SqlStore, clock: Clock, notifiers: list[Notifier]) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.config = config
        self.store = store
        self.clock = clock
        self.notifiers = notifiers
        self.scheduler = AsyncIOScheduler(timezone="UTC")

    def start(self) -> None:
        from apscheduler.triggers.cron import CronTrigger

        for spec in self.config.digests:
            self.scheduler.add_job(
                self._run,
                CronTrigger.from_crontab(spec.schedule, timezone=ZoneInfo(spec.timezone)),
                args=[spec],
                id=f"digest:{spec.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
        if self.config.digests:
            self.scheduler.start()

    async def _run(self, spec: DigestConfig) -> None:
        try:
            await run_digest(self.config, spec, self.store, self.clock, self.notifiers)
        except Exception:  # one bad run must not stop the next day's
            log.exception("digest %s failed", spec.name)

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id.removeprefix("digest:"): job.next_run_time for job in self.scheduler.get_jobs()}

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for n in self.notifiers:
            await n.close()
