"""What the console's pages show, read from the store (and the daemon's metrics).

:class:`Views` is the console without HTTP: the overview's numbers, the alert list with peak
levels, an alert's page (factors explained, stories with their repost trees, spreaders,
notable posts, audit trail), the actions people take, and the review report.
"""

from __future__ import annotations

import asyncio
import tempfile
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sentinel.alerting.manage import AlertManager, AlertNotFound, audit
from sentinel.alerting.responses import ResponseLog
from sentinel.clock import Clock
from sentinel.config import LEVELS, Config, parse_duration
from sentinel.notify.sanitize import safe_url, truncate_chars
from sentinel.obs.metrics import Metrics
from sentinel.store import SqlStore
from sentinel.store.activity import Bucket
from sentinel.store.alerts import AlertRecord
from sentinel.store.users import UserRecord
from sentinel.times import parse_when
from sentinel.web.i18n import explain_factor

__all__ = ["Views", "clean"]

_THRESHOLDS = {"blue": 25.0, "yellow": 45.0, "orange": 65.0, "red": 80.0}


class Views:
    """The console's data; every method reads (or, :meth:`act`, changes) the store."""

    def __init__(self, store: SqlStore, clock: Clock, config: Config, metrics: Metrics | None = None) -> None:
        self.store = store
        self.clock = clock
        self.config = config
        self.metrics = metrics
        self.manager = AlertManager(store, clock)
        self.responses = ResponseLog(store, clock)
        self.watches = [w.name for w in config.watches]
        extra = (config.risk.model_extra or {}).get("thresholds") or {}
        self.thresholds = {**_THRESHOLDS, **{k: float(v) for k, v in extra.items() if k in _THRESHOLDS}}

    async def overview_data(self) -> dict[str, Any]:
        """What the overview shows, computed now (see :meth:`overview`)."""
        now = self.clock.now()
        open_alerts = {a.watch: a for a in await self.store.list_alerts(status="open", limit=1000)}
        # one pass over the week by the hour; the day is its last 24 hours, the week's chart by 6 h
        hourly = await self.store.watch_activity(self.watches, now - timedelta(days=7), now, 3600)
        day_start = (now - timedelta(hours=24)).timestamp()
        day = {w: [b for b in hourly[w] if b.start >= day_start] for w in self.watches}
        week = {w: _coarser(hourly[w], (now - timedelta(days=7)).timestamp(), 6 * 3600) for w in self.watches}
        events = await self.store.alert_events()
        since_week = (now - timedelta(days=7)).timestamp()
        rows = []
        for name in self.watches:
            alert = open_alerts.get(name)
            risk = None
            if self.metrics is not None:
                risk = self.metrics.registry.get_sample_value("sentinel_watch_risk_score", {"watch": name})
            if risk is None and alert is not None:
                risk = alert.risk
            risk_points = [
                [int(e.at.timestamp() * 1000), e.risk]
                for e in events
                if e.watch == name and e.at.timestamp() >= since_week
            ]
            rows.append(
                {
                    "watch": name,
                    "level": alert.level if alert else None,
                    "alert_id": alert.id if alert else None,
                    "acked_by": alert.acked_by if alert else None,
                    "risk": round(risk or 0.0, 1),
                    "day": [[int(b.start * 1000), b.posts, b.negative] for b in day[name]],
                    "week": [[int(b.start * 1000), b.posts, b.negative] for b in week[name]],
                    "posts_24h": sum(b.posts for b in day[name]),
                    "negative_24h": sum(b.negative for b in day[name]),
                    "risk_points": risk_points,
                }
            )
        latest = max((a.id for a in await self.store.list_alerts(limit=1)), default=0)
        return {"at": now.isoformat(), "watches": rows, "latest_alert": latest, "thresholds": self.thresholds}

    async def alert_rows(
        self, *, watch: str | None = None, level: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        store_status = {"open": "open", "acknowledged": "open", "resolved": "resolved"}.get(status or "")
        found = await self.store.list_alerts(watch=watch, status=store_status, limit=500)
        if status == "open":
            found = [a for a in found if not a.acked_by]
        elif status == "acknowledged":
            found = [a for a in found if a.acked_by]
        peaks = await self._peaks({a.watch for a in found})
        rows = []
        for a in found:
            peak = peaks.get(a.id, a.level)
            if level and peak != level:
                continue
            rows.append({"a": a, "peak": peak, "state": _state(a)})
        return rows

    async def _peaks(self, watches: set[str]) -> dict[int, str]:
        peaks: dict[int, str] = {}
        for watch in watches:
            for e in await self.store.alert_events(watch=watch):
                if e.alert_id is None or e.level not in LEVELS:
                    continue
                old = peaks.get(e.alert_id)
                if old is None or LEVELS.index(e.level) > LEVELS.index(old):
                    peaks[e.alert_id] = e.level
        return peaks

    async def alert_detail(self, alert_id: int, lang: str) -> dict[str, Any]:
        alert = await self.manager.get(alert_id)
        events = await self.manager.events(alert_id)
        trail = await self.manager.audit_trail(target=f"alert:{alert_id}")
        owner = next((e.data.get("owner") for e in trail if e.action == "alert.assign"), None)
        # each factor as it was when it weighed most over the alert's life
        strongest: dict[str, dict[str, Any]] = {}
        for e in events:
            for name, f in e.factors.items():
                if isinstance(f, dict) and _num(f.get("contribution")) >= _num(
                    strongest.get(name, {}).get("contribution")
                ):
                    strongest[name] = f
        factors = []
        for name, f in strongest.items():
            text = explain_factor(name, f, lang)
            if text:
                factors.append({"name": name, "text": text, "contribution": _num(f.get("contribution"))})
        factors.sort(key=lambda x: -_num(x["contribution"]))
        last_reasons = next(
            (e.factors.get("reasons") for e in reversed(events) if e.factors.get("reasons")), None
        )
        reasons = [str(r) for r in (last_reasons or []) if isinstance(r, str)][:8]
        samples: dict[str, dict[str, Any]] = {}
        stories: dict[str, dict[str, Any]] = {}
        for e in events:
            for s in e.samples:
                if isinstance(s, dict) and s.get("id") is not None:
                    samples.setdefault(str(s["id"]), s)
            for st in e.factors.get("stories") or []:
                if isinstance(st, dict) and st.get("id") is not None:
                    stories[str(st["id"])] = st  # the latest numbers of each story
        notable = sorted(
            samples.values(),
            key=lambda s: (
                -(_num(s.get("followers")) >= 100_000),
                -_num(s.get("negative")),
                -_num(s.get("followers")),
            ),
        )[:12]
        spreaders: dict[str, int] = {}
        for s in samples.values():
            author = clean(s.get("author"), 40)
            if author:
                spreaders[author] = max(spreaders.get(author, 0), int(_num(s.get("followers"))))
        top_stories = sorted(stories.values(), key=lambda s: -_num(s.get("size")))[:5]
        for story in top_stories[:3]:
            story["tree"] = await self._tree(str(story["id"]))
        return {
            "alert": alert,
            "state": _state(alert),
            "owner": owner,
            "events": events,
            "timeline": _timeline(events, alert.resolved_at or self.clock.now()),
            "thresholds": self.thresholds,
            "factors": factors,
            "reasons": reasons,
            "stories": top_stories,
            "spreaders": sorted(spreaders.items(), key=lambda kv: -kv[1])[:8],
            "notable": notable,
            "audit": trail,
        }

    async def _tree(self, post_id: str) -> dict[str, Any] | None:
        """A story's repost tree (who reposted whom, by the quoted "//@name:"), three levels deep."""
        from sentinel.alerting.report import spread_tree

        posts = await self.store.story_posts(post_id)
        if len(posts) < 2:
            return None
        return spread_tree(posts[0], posts[1:]).to_json(depth=3)

    async def act(self, alert_id: int, action: str, form: dict[str, str], user: UserRecord) -> None:
        actor = f"{user.name} (web)"
        note = form.get("note") or None
        if action == "ack":
            await self.manager.ack(alert_id, actor=actor, note=note)
        elif action == "resolve":
            await self.manager.resolve(alert_id, actor=actor, note=note)
        elif action == "assign":
            owner = clean(form.get("owner"), 64)
            if not owner:
                raise ValueError("owner is required")
            alert = await self.manager.get(alert_id)
            entry = audit(self.clock.now(), actor, "alert.assign", f"alert:{alert.id}", {"owner": owner})
            await self.store.add_audit(entry)
        elif action == "silence":
            alert = await self.manager.get(alert_id)
            span = timedelta(seconds=parse_duration(form.get("for") or "2h"))
            await self.manager.silence(alert.watch, until=self.clock.now() + span, actor=actor, reason=note)
        elif action == "response":
            alert = await self.manager.get(alert_id)
            await self.responses.add(
                alert.watch,
                at=parse_when(form.get("at") or "now", self.clock.now()),
                kind=form.get("kind") or "statement",
                actor=actor,
                note=note,
                url=safe_url(form.get("url")) if form.get("url") else None,
            )
        else:
            raise AlertNotFound(f"no such action: {action[:40]}")

    async def review_html(self, watch: str, since: str, until: str, lang: str) -> str:
        """The review report, made by what ``sentinel report`` runs (build, then write)."""
        from sentinel.alerting.render import write_report
        from sentinel.alerting.report import build_report

        if watch not in self.watches:
            raise ValueError(f"unknown watch {watch[:80]!r}")
        now = self.clock.now()
        start, end = parse_when(since, now), parse_when(until, now)
        if end <= start:
            raise ValueError("the period must end after it starts")
        data = await build_report(
            self.store, self.config, watch, since=start, until=end, clock=self.clock, window=timedelta(hours=6),
            tz=timezone(timedelta(hours=8)),
        )  # fmt: skip

        def write() -> str:
            with tempfile.TemporaryDirectory(prefix="sentinel-review-") as tmp:
                files = write_report(data, Path(tmp), lang if lang in ("zh", "en") else "zh")
                return files.html.read_text(encoding="utf-8")

        return await asyncio.to_thread(write)


def clean(text: object, max_chars: int | None = None) -> str:
    """Untrusted text for a page: control and format characters (bidi overrides, zero-width
    joiners and the like) dropped, whitespace folded, cut to ``max_chars``. Escaping is the
    template's (autoescape); unlike chat cards, nothing else needs changing."""
    s = "" if text is None else str(text)
    s = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in s)
    s = " ".join(s.split())
    return truncate_chars(s, max_chars) if max_chars is not None else s


def _coarser(buckets: list[Bucket], since: float, size: float) -> list[Bucket]:
    """The same counts in buckets of ``size`` seconds from ``since``."""
    out: dict[int, Bucket] = {}
    for b in buckets:
        slot = int((b.start - since) // size)
        old = out.get(slot)
        out[slot] = Bucket(since + slot * size, b.posts + (old.posts if old else 0),
                           b.negative + (old.negative if old else 0))  # fmt: skip
    return [out[k] for k in sorted(out)]


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return 0.0


def _state(a: AlertRecord) -> str:
    if a.status == "resolved":
        return "resolved"
    return "acknowledged" if a.acked_by else "open"


def _timeline(events: list[Any], end: datetime) -> list[list[Any]]:
    """[ms, risk, level] per event, held to ``end`` (the alert's resolution, or now): a risk
    stays what its last event said until the next, and one event alone is still a line."""
    points: list[list[Any]] = [[int(e.at.timestamp() * 1000), e.risk, e.level] for e in events]
    if points and int(end.timestamp() * 1000) > points[-1][0]:
        points.append([int(end.timestamp() * 1000), points[-1][1], points[-1][2]])
    return points

