"""The risk engine: watches, stories, windows and levels, all in event time.

``observe`` only folds, matches and queues posts; ``evaluate(now)`` moves a fixed grid of
event-time ticks (every ``tick`` seconds) up to ``now``: at each tick it first takes in the
queued posts created before that tick, in (created_at, platform, id) order, then scores
every watch. The results therefore do not depend on how posts were batched, which makes
``sentinel backtest`` deterministic byte for byte. Call ``observe`` with posts before
``evaluate`` with a ``now`` at or after their ``created_at``; posts older than the last tick
(late arrivals) are still counted, at the next tick.
"""

from __future__ import annotations

import heapq
import logging
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np

from sentinel.config import LEVELS, WatchConfig, level_rank
from sentinel.obs.metrics import Metrics
from sentinel.paths import find
from sentinel.post import ScoredPost
from sentinel.risk.base import AlertEvent
from sentinel.risk.context import negativity, repost_negativity
from sentinel.risk.options import EngineOptions, watch_options
from sentinel.risk.rumour import REACTIONS, RumourModel, document
from sentinel.risk.stories import STORY_TEXT_CHARS, Story, StoryIndex, signatures_and_bands, watch_indices
from sentinel.risk.text import fold, is_bare_repost, own_words, takes_seriously
from sentinel.risk.topics import TopicSeverity, load_topic_severity
from sentinel.risk.watch import BIG_STORY, StoryLife, WatchState
from sentinel.risk.window import Entry, voice_of

__all__ = ["Engine", "Silence"]

FUTURE_TOLERANCE = 300.0  # seconds a post may be dated after the clock before it is "now"


@dataclass(frozen=True, slots=True)
class Silence:
    """A planned quiet period for a watch (``"*"``: all): events are kept but not paged."""

    watch: str
    starts: float  # unix seconds
    ends: float
    reason: str | None = None

    def covers(self, watch: str, ts: float) -> bool:
        return (self.watch in (watch, "*")) and self.starts <= ts < self.ends


@dataclass(slots=True)
class _Queued:
    """A post waiting for its tick, with what depends on the post alone worked out on arrival
    (the tick then ingests a whole tick's posts at once: that is the alert path)."""

    post: ScoredPost
    watches: int  # bit mask of the watches its own text matches
    own: float  # its own negativity (sentinel.risk.context.negativity)
    severity: float  # the topic severity of its own words, when it is negative at all
    author: str  # interned: one string per author however many of their posts the windows hold
    bare: bool  # a repost that adds nothing of its own (is_bare_repost)
    serious: bool  # a reaction that takes what it reposts seriously (takes_seriously)
    positive: bool  # its own words read positive (the model's label), counted with doubt_root
    signature: np.ndarray | None = None
    bands: list[int] | None = None


log = logging.getLogger(__name__)
RUMOUR_SPAN = 0.3  # P(rumour) above rumour_from at which a story reads fully like one


def load_rumour(path: str | None) -> RumourModel | None:
    """The rumour model at ``path`` (the working directory's, else the repository's); None
    when ``path`` is empty or there is no such file (the engine then reads tone alone)."""
    if not path:
        return None
    found = find(path)
    if found is None or not found.is_file():
        log.warning("no rumour model at %s: stories are read by their tone alone", path)
        return None
    return RumourModel.load(found)


def _sign(items: Sequence[_Queued], folded: Sequence[str]) -> None:
    """MinHash signature and LSH band keys of each item's folded text (None: too short)."""
    if items:
        for item, sb in zip(items, signatures_and_bands(folded), strict=True):
            if sb is not None:
                item.signature, item.bands = sb


# the few weights a window entry can have, one float object each (entries share them)
_WEIGHTS = {w: w for w in (1.0, 0.5, 0.3, 0.15)}


class Engine:
    """The default :class:`~sentinel.risk.base.RiskEngine`.

    >>> from sentinel.config import WatchConfig
    >>> engine = Engine([WatchConfig(name="acme", query="艾克美 OR ACME")])
    >>> engine.evaluate(datetime(2026, 11, 28, tzinfo=UTC))
    []
    """

    def __init__(
        self,
        watches: Sequence[WatchConfig],
        options: EngineOptions | None = None,
        *,
        topics: TopicSeverity | None = None,
        metrics: Metrics | None = None,
        rumour: RumourModel | None = None,
    ) -> None:
        self.options = options or EngineOptions()
        self.watches = [WatchState.from_config(w, watch_options(w), self.options) for w in watches]
        self.topics = topics or load_topic_severity(self.options.taxonomy)
        self.rumour = rumour if rumour is not None else load_rumour(self.options.rumour_model)
        self.metrics = metrics
        self.stories = StoryIndex(
            threshold=self.options.dedup_threshold,
            ttl=self.options.story_ttl,
            max_posts=self.options.max_story_posts,
            max_stories=self.options.max_stories,
            on_evict=self._count_eviction if metrics is not None else None,
        )
        self._queue: list[tuple[float, str, str, int, _Queued]] = []
        # at least the newest created_at in the queue (what ingestion took out stays counted):
        # most evaluations need not look through the queue for posts dated in the future
        self._queue_newest = -math.inf
        self._seq = 0
        self._last_tick: float | None = None
        # every watch at the last tick was idle or below the evidence gate at level 0: until a
        # post arrives or an hour closes, the ticks after it only expire windows (_skip_to)
        self._quiet = False
        self._silences: list[Silence] = []
        self.observed = 0
        self.dropped = 0
        self.future = 0  # posts dated in the future, counted as arriving when seen

    # -- input ----------------------------------------------------------------------------

    def _count_eviction(self, kind: str, n: int) -> None:
        assert self.metrics is not None
        self.metrics.risk_index_evictions.labels(kind).inc(n)

    def observe(self, posts: Sequence[ScoredPost]) -> None:
        """Queue scored posts; posts no watch can concern are dropped here."""
        queue = self._queue
        originals: list[_Queued] = []
        texts: list[str] = []  # the originals' folded texts
        for sp in posts:
            p = sp.post
            folded = fold(p.text)
            matched = 0
            for i, w in enumerate(self.watches):
                if w.query.matches_folded(folded):
                    matched |= 1 << i
            if not matched and p.repost_of is None:
                self.dropped += 1
                continue
            self._seq += 1
            own = negativity(sp.negative)
            bare = p.repost_of is not None and is_bare_repost(p.text)
            # a reaction that asks whether the post is true, or is alarmed by it, takes it
            # seriously: a negative voice of the story whatever the reader makes of its tone
            serious = (
                p.repost_of is not None
                and not bare
                and self.options.serious_reactions > 0
                and takes_seriously(folded)
            )
            if serious:
                own = max(own, self.options.serious_reactions)
            elif (
                p.repost_of is not None
                and not bare
                and self.options.neutral_spreads
                and sp.label == "neutral"
            ):
                # words that take no side ("已转", "看看", a question the cue list does not
                # know) pass the story on as a bare repost does: the story's tone, not theirs
                bare = True
            sev = 0.0
            if own > 0:
                sev = (
                    self.topics.of_scores(sp.topics, self.options.topic_threshold)
                    if sp.topics
                    else self.topics.of_text(folded)
                )
            author = sys.intern(p.author.id) if p.author.id else f"post:{p.id}"
            # cheerful words of its own: what doubts a dark reading of the original (doubt_root)
            positive = self.options.doubt_root and not serious and sp.label == "positive"
            item = _Queued(sp, matched, own, sev, author, bare, serious, positive)
            if matched and p.repost_of is None:
                originals.append(item)
                texts.append(folded)
            ts = p.created_at.timestamp()
            if ts > self._queue_newest:
                self._queue_newest = ts
            heapq.heappush(queue, (ts, p.platform, p.id, self._seq, item))
        # near-duplicate signatures for the whole batch at once (numpy is per call, not per
        # post: a sparse replay has one or two posts a tick, but thousands a batch)
        _sign(originals, texts)
        self.observed += len(posts)

    def set_silences(self, silences: Iterable[Silence]) -> None:
        """Replace the active silences (the daemon reloads them from the store's table)."""
        self._silences = sorted(silences, key=lambda s: (s.starts, s.watch))

    # -- ticks ----------------------------------------------------------------------------

    def evaluate(self, now: datetime) -> list[AlertEvent]:
        """Advance event time to ``now``; return the alert transitions, oldest first."""
        tick = self.options.tick
        end = math.floor(now.timestamp() / tick) * tick
        if self._last_tick is None:
            first = min(self._queue[0][0], now.timestamp()) if self._queue else now.timestamp()
            self._last_tick = math.floor(first / tick) * tick
        events: list[AlertEvent] = []
        t = self._last_tick
        while t < end:
            if (not self._queue or self._queue[0][0] >= end) and all(w.idle for w in self.watches):
                t = end  # nothing in flight: jump (same result as stepping through idle ticks)
            elif self._quiet:
                t = self._skip_to(t, end)
            else:
                t += tick
            self._ingest_until(t)
            events.extend(self._tick(t))
        self._last_tick = max(self._last_tick, end)
        self._pull_in_future_posts(now.timestamp())
        return events

    def _skip_to(self, t: float, end: float) -> float:
        """The next tick to run after a quiet tick ``t``: the one before the next event.

        While every watch is at level 0 below the evidence gate (or idle) and no post arrives,
        a tick only expires its windows, and voices only leave them, so the watches stay
        quiet; the ticks up to the one before the next event -- a post due, an hour closing
        (the baseline's, the story norm's, the story index's sweep) or ``end`` -- change
        nothing that the tick before the event does not also do, in the same order (windows
        expire before the post is counted). A sparse 30-day stream of 10,049 posts ran 259,094
        ticks and now runs 63,087 of them, with the same output."""
        tick = self.options.tick
        if tick != int(tick) or t != int(t):
            return t + tick  # exact grid arithmetic needs whole seconds (the default is 10)
        nxt = end
        if self._queue:
            # a post is counted at the first tick after it (``_ingest_until``)
            nxt = min(nxt, t + (math.floor((self._queue[0][0] - t) / tick) + 1) * tick)
        hours = [(t // 3600 + 1) * 3600]  # the story norm and the story index go by UTC hours
        # and each baseline by its watch's local hours (utc_offset may be 5.5)
        hours += [watch.baseline.hour_ends(t) for watch in self.watches]
        for h in hours:  # the first tick at or after the hour (a hair early rather than late)
            nxt = min(nxt, t + math.ceil((h - t - 1e-6) / tick) * tick)
        return max(t + tick, nxt - tick)

    def _pull_in_future_posts(self, now: float) -> None:
        """Posts dated well after ``now`` come from a source with a wrong clock or zone (a UTC
        time labelled +08:00 is eight hours ahead): count them as arriving now rather than
        holding them back for hours. A replay never has any (its clock follows the posts)."""
        queue = self._queue
        if not queue:
            self._queue_newest = -math.inf
            return
        if self._queue_newest <= now + FUTURE_TOLERANCE:
            return
        self._queue_newest = max(item[0] for item in queue)
        if self._queue_newest <= now + FUTURE_TOLERANCE:
            return
        fixed: list[tuple[float, str, str, int, _Queued]] = []
        for ts, platform, pid, seq, item in queue:
            if ts > now + FUTURE_TOLERANCE:
                ts = now
                self.future += 1
            fixed.append((ts, platform, pid, seq, item))
        heapq.heapify(fixed)
        self._queue = fixed
        self._queue_newest = max(item[0] for item in fixed)

    def _ingest_until(self, t: float) -> None:
        q = self._queue
        due: list[tuple[float, _Queued]] = []
        while q and q[0][0] < t:
            ts, _, _, _, item = heapq.heappop(q)
            due.append((ts, item))
        for ts, item in due:
            self._ingest(ts, t, item)
        self.stories.expire(t)

    def _ingest(self, ts: float, tick: float, item: _Queued) -> None:
        sp = item.post
        p = sp.post
        key = p.key
        counts = p.reposts + p.comments
        index = self.stories
        if index.knows(key):  # seen before: only the growth of its counters is news
            known = index.story_of(key)
            last = index.last_counts(key)
            index.set_counts(key, max(counts, last))
            if known is not None and counts > last:
                for i in watch_indices(known.watches):
                    self.watches[i].add_velocity(
                        max(ts, tick - self.options.tick), known.id, float(counts - last)
                    )
            return
        watches = item.watches
        parent: Story | None = None
        if p.repost_of is not None:
            parent = index.story_of((p.platform, p.repost_of)) or index.stories.get(p.repost_of)
            if parent is not None:
                watches |= parent.watches
        if not watches:
            return
        story, by_text = index.assign(key, ts, p.text, p.repost_of, item.signature, item.bands)
        index.set_counts(key, counts)
        fresh = story.size == 0
        story.watches |= watches
        own = item.own
        sev = item.severity
        v = own
        if p.repost_of is not None and not fresh:
            # a repost is read in the context of what it reposts (sentinel.risk.context): a bare
            # "转发微博" spreads the story's tone as it stands, words count less in a story that
            # is not negative so far, spreading a complaint spreads at least 0.8 of it
            root = story.root_heard or 0.0
            tone = story.tone
            v = repost_negativity(own, root, tone, bare=item.bare, serious=own if item.serious else 0.0)
            if self.options.rumour_voices > 0:
                # passing on a story that reads like a rumour spreads the rumour
                v = max(v, self.options.rumour_voices * self._rumour(story))
            if not item.bare:
                _count_words(story, item)
                self._note_reaction(story, p.text)
            sev = max(sev, 0.8 * story.severity)
        elif p.repost_of is None and story.root_negative is None:
            story.root_negative = own
            story.root_followers = p.author.followers
        elif p.repost_of is not None:  # the first of a story whose original was never seen
            _count_words(story, item)
            if not item.bare:
                self._note_reaction(story, p.text)
        story.size += 1
        story.add_recent(ts)
        story.negative_sum += own
        story.severity = max(story.severity, sev)
        followers = p.author.followers
        weight = 0.3 if by_text and followers < 10 else 1.0
        author = item.author
        voice = None
        if v >= 0.5:  # only negative posts feed reach, KOL, topic and the alert's samples
            kol = followers >= self.options.kol_followers or (p.author.verified and followers >= 10_000)
            voice = voice_of(sp, kol, sev)
        for i in watch_indices(watches):
            watch = self.watches[i]
            w = weight * (0.5 if watch.author_posts.get(author, 0) >= 3 else 1.0)
            watch.add(Entry(ts, story.id, author, _WEIGHTS.get(w, w), v, voice))
            if story.size >= BIG_STORY:
                watch.big_stories[story.id] = None

    def _negativity_of(self, story_id: str) -> float:
        story = self.stories.stories.get(story_id)
        return story.negativity if story is not None else 0.0

    def _tick(self, t: float) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        opts = self.options
        self._quiet = True
        for watch in self.watches:
            watch.expire(t)
            # the baseline does not learn from an open alert -- for a while: a lasting shift
            # (a brand that simply grew) must become the new normal, or the alert never ends
            levels = watch.levels
            watch.baseline.frozen = levels.level >= 1 and t - levels.opened_at < opts.baseline_freeze
            watch.baseline.roll(t, frozen=watch.baseline.frozen)
            watch.story_norm.note(t, max(watch.story_n.values(), default=0.0), watch.baseline.frozen)
            if watch.idle:
                watch.risk = 0.0
                continue
            if (
                watch.levels.level == 0
                and max(len(watch.neg_authors), len(watch.hour_authors) // 2) < (watch.min_voices["blue"])
            ):
                # too few voices for any level (the score's evidence gate): skip the arithmetic
                watch.risk = 0.0
                continue
            self._quiet = False
            # only stories with a few posts in the velocity window can be the fastest
            negativity = {sid: self._negativity_of(sid) for sid, n in watch.story_vel.items() if n >= 2.0}
            score = watch.score(t, opts, negativity, self._lives(watch, t, negativity))
            # evidence: voices in the short window, or half the voices of the last hour
            risk = score.risk
            voices = max(score.indicators.voices, score.indicators.voices_1h // 2)
            watch.risk = risk
            target = watch.levels.target(risk, voices, watch.thresholds, watch.min_voices)
            fast = self._fast_post(watch, negativity)
            if fast is not None and voices >= watch.min_voices["blue"]:
                target = max(target, level_rank(opts.fast_post.level))
            tr = watch.levels.step(
                t,
                risk,
                target,
                watch.thresholds,
                hysteresis=opts.hysteresis,
                cooldown=opts.cooldown,
                resolve_after=opts.resolve_after,
            )
            if self.metrics is not None:
                ind = score.indicators
                self._export(watch, ind.share, ind.posts, ind.expected_posts)
            if tr is None or (tr.event == "deescalated" and tr.level == tr.previous):
                # the fast-post floor held the level where it was (LevelState.step reports a
                # step "down" to the same level once per cooldown): no change, no event
                continue
            factors = score.factors()
            if fast is not None:
                factors["fast_post"] = fast
            events.append(self._event(watch, t, tr.event, tr.level, tr.previous, risk, factors, negativity))
        return events

    def _lives(self, watch: WatchState, t: float, fast: Iterable[str] = ()) -> dict[str, StoryLife]:
        """The watch's big stories still being reposted, and the ``fast`` ones, as the spread
        and reach indicators need them."""
        out: dict[str, StoryLife] = {}
        for sid in (*watch.big_stories, *fast):
            story = self.stories.stories.get(sid)
            if story is not None:
                out[sid] = StoryLife(
                    story.tone,
                    story.recent_at(t),
                    t - story.first_ts,
                    story.root_followers,
                    self._rumour(story),
                )
        return out

    def _note_reaction(self, story: Story, text: str) -> None:
        """Keep a reaction's own words for the rumour model (the first REACTIONS of a story)."""
        if self.rumour is None:
            return
        if story.reactions is None:
            story.reactions = []
        if len(story.reactions) < REACTIONS:
            story.reactions.append(own_words(text)[:STORY_TEXT_CHARS])

    def _rumour(self, story: Story) -> float:
        """How much a story reads like a rumour, 0..1: 0 up to P(rumour) ``rumour_from``, 1 from
        ``rumour_from + RUMOUR_SPAN``. Read again only when a reaction was added."""
        if self.rumour is None:
            return 0.0
        n = len(story.reactions) if story.reactions is not None else 0
        if story.rumour_n != n:
            story.rumour = self.rumour.probability(document(story.text, story.reactions or ()))
            story.rumour_n = n
        return min(1.0, max(0.0, (story.rumour - self.options.rumour_from) / RUMOUR_SPAN))

    def _fast_post(self, watch: WatchState, negativity: dict[str, float]) -> dict[str, Any] | None:
        fp = self.options.fast_post
        if not fp.enabled:
            return None
        per_min = 60.0 / self.options.velocity_window
        best: dict[str, Any] | None = None
        for sid in sorted(negativity):
            velocity = watch.story_vel.get(sid, 0.0) * per_min
            story = self.stories.stories.get(sid)
            if story is None or velocity < fp.velocity or negativity.get(sid, 0.0) < fp.negative:
                continue
            if story.root_followers >= fp.followers and (best is None or velocity > best["velocity"]):
                best = {
                    "story": sid,
                    "velocity": round(velocity, 2),
                    "followers": story.root_followers,
                    "negative": round(negativity[sid], 3),
                    "text": story.text[:140],
                }
        return best

    def _event(
        self,
        watch: WatchState,
        t: float,
        event: str,
        level: int,
        previous: int,
        risk: float,
        factors: dict[str, Any],
        negativity: dict[str, float],
    ) -> AlertEvent:
        opts = self.options
        top = watch.top_entries(max(opts.top_posts, opts.samples))
        ranked = sorted(
            ((sid, watch.story_vel.get(sid, 0.0)) for sid in negativity),
            key=lambda kv: (-kv[1] * negativity.get(kv[0], 0.0), kv[0]),
        )
        per_min = 60.0 / opts.velocity_window
        stories = []
        for sid, amount in ranked[:3]:
            story = self.stories.stories.get(sid)
            if story is not None:
                stories.append(
                    {
                        "id": sid,
                        "size": story.size,
                        "velocity": round(amount * per_min, 2),
                        "negative": round(negativity.get(sid, 0.0), 3),
                        "text": story.text[:140],
                    }
                )
        factors = dict(factors)
        spread = factors.get("spread", {}).get("story")
        if spread is not None and (story := self.stories.stories.get(spread["id"])) is not None:
            spread["serious"] = story.serious  # people asking whether it is true: time to clarify
        factors["stories"] = stories
        factors["posts_in_window"] = len(watch.entries)
        silence = next((s for s in self._silences if s.covers(watch.name, t)), None)
        quiet = watch.in_quiet_hours(t) and level < level_rank(watch.options.quiet_min_level)
        factors["silenced"] = silence is not None or quiet
        if silence is not None:
            factors["silence"] = silence.reason or "silenced"
        elif quiet:
            factors["silence"] = "quiet hours"
        tz = timezone(timedelta(hours=watch.options.utc_offset))
        return AlertEvent(
            event=event,
            watch=watch.name,
            level=LEVELS[level - 1],
            risk=round(risk, 1),
            at=datetime.fromtimestamp(t, UTC).astimezone(tz),
            factors=factors,
            posts=[e.key[1] for e in top[: opts.top_posts]],
            samples=[e.voice.sample() for e in top[: opts.samples] if e.voice is not None],
            previous_level=LEVELS[previous - 1] if previous and event != "resolved" else None,
        )

    def _export(self, watch: WatchState, share: float, posts: float, expected: float | None) -> None:
        m = self.metrics
        assert m is not None
        m.watch_risk.labels(watch.name).set(watch.risk)
        m.watch_level.labels(watch.name).set(watch.levels.level)
        m.watch_negative_share.labels(watch.name).set(share)
        m.watch_volume.labels(watch.name).set(posts)
        if expected is not None:
            m.watch_baseline.labels(watch.name).set(expected)

    # -- restart --------------------------------------------------------------------------

    def warm_start(self, posts: Sequence[ScoredPost], open_levels: dict[str, str], now: datetime) -> None:
        """Rebuild windows from stored posts, then take each watch's level from the store."""
        ordered = sorted(posts, key=lambda sp: (sp.post.created_at.timestamp(), sp.post.platform, sp.post.id))
        self.observe(ordered)
        self.evaluate(now)  # transitions while replaying were already emitted before the restart
        t = self._last_tick if self._last_tick is not None else now.timestamp()
        for watch in self.watches:
            rank = level_rank(open_levels.get(watch.name, ""))
            watch.levels.level = rank
            watch.levels.peak = rank
            watch.levels.changed_at = t
            watch.levels.opened_at = t
            watch.levels.below_since = None
            watch.levels.low_since = None


def _count_words(story: Story, item: _Queued) -> None:
    """A repost with words of its own joins its story's reading of them (tone, doubt)."""
    story.words_sum += item.own
    story.words_n += 1
    story.words_pos += item.positive
    story.words_neg += item.own >= 0.5
    story.serious += item.serious
