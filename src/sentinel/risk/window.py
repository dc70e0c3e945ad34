"""What a watch's windows keep per post: as little as the indicators and alert samples need.

At 1,500 posts/s a 600 s window holds close to a million entries, so their size is the
engine's memory. An :class:`Entry` has the numbers every indicator needs; only a post that
counts as negative (the only kind the reach, KOL and topic indicators and the alert's top
posts look at) carries a :class:`Voice` with its id, reach and the few fields of its alert
sample. Nothing keeps the whole ``ScoredPost`` (its author object, extras, topics, counters),
which is what made the windows cost ~1 KB per post. The :class:`Window` stores entries as
columns (~48 bytes a row), and the hour of negative voices is a :class:`TimedFifo`.
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sentinel.post import ScoredPost

__all__ = ["Entry", "TimedFifo", "Voice", "Window", "voice_of"]

SAMPLE_CHARS = 280  # an alert sample's text is cut here (notifiers cut it further)


@dataclass(slots=True, eq=False)
class Voice:
    """A negative post as the alert sees it: id, reach, topic severity and its sample fields."""

    platform: str
    id: str
    followers: int
    kol: bool
    severity: float
    text: str
    author: str | None
    url: str | None
    raw_negative: float  # the classifier's P(negative), for the sample

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.id)

    def sample(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "author": self.author,
            "followers": self.followers,
            "url": self.url,
            "negative": round(self.raw_negative, 3),
        }


def voice_of(sp: ScoredPost, kol: bool, severity: float) -> Voice:
    p = sp.post
    return Voice(
        # interned: a handful of platform names shared by every voice
        sys.intern(p.platform),
        p.id,
        p.author.followers,
        kol,
        severity,
        p.text[:SAMPLE_CHARS],  # the same string object when it is short enough (most posts)
        p.author.name or p.author.id,
        p.url,
        sp.negative,
    )


@dataclass(slots=True, eq=False)
class Entry:
    """A post as a watch's windows see it; ``voice`` only when it counts as negative (>= 0.5)."""

    ts: float
    story: str
    author: str
    weight: float  # bot-likeness down-weighting, 0..1
    negative: float  # negativity 0..1 (reposts inherit part of their story's)
    voice: Voice | None = None

    @property
    def key(self) -> tuple[str, str]:
        assert self.voice is not None, "only negative entries keep their post's key"
        return self.voice.key

    @property
    def followers(self) -> int:
        return self.voice.followers if self.voice is not None else 0


class TimedFifo:
    """(timestamp, value) pairs in time order, 16 bytes each: a float array and a deque.

    A deque of ``(ts, value)`` tuples costs ~90 bytes a pair (tuple and float objects); the
    hour of negative voices a watch remembers runs into the millions at high rates.
    """

    __slots__ = ("_head", "_ts", "_values")

    _COMPACT = 4096

    def __init__(self) -> None:
        self._ts = array("d")
        self._values: deque[str] = deque()
        self._head = 0

    def __len__(self) -> int:
        return len(self._values)

    def append(self, ts: float, value: str) -> None:
        self._ts.append(ts)
        self._values.append(value)

    def pop_before(self, horizon: float) -> list[str]:
        """Remove and return the values of every pair older than ``horizon``."""
        ts, values, head = self._ts, self._values, self._head
        out: list[str] = []
        end = len(ts)
        while head < end and ts[head] < horizon:
            out.append(values.popleft())
            head += 1
        if head == end or (head >= self._COMPACT and head * 2 >= end):
            del ts[:head]  # amortised: each slot is moved at most once per halving
            head = 0
        self._head = head
        return out


class Window:
    """A watch's short window: :class:`Entry` rows kept as columns, oldest first.

    An ``Entry`` object with its own ``ts`` float costs ~130 bytes; here a row is three
    doubles in arrays and three pointers in lists (48 bytes) plus what it points at (shared
    story ids, interned authors, the voice of a negative post). ``append`` takes an entry,
    iteration and ``pop_before`` hand entries back (made on the way out: the windows are
    read whole only when an alert event is built).
    """

    __slots__ = ("_author", "_head", "_negative", "_story", "_ts", "_voice", "_weight")

    _COMPACT = 4096

    def __init__(self) -> None:
        self._ts = array("d")
        self._weight = array("d")
        self._negative = array("d")
        self._story: list[str | None] = []
        self._author: list[str | None] = []
        self._voice: list[Voice | None] = []
        self._head = 0

    def __len__(self) -> int:
        return len(self._ts) - self._head

    def __bool__(self) -> bool:
        return len(self._ts) > self._head

    def append(self, e: Entry) -> None:
        self._ts.append(e.ts)
        self._weight.append(e.weight)
        self._negative.append(e.negative)
        self._story.append(e.story)
        self._author.append(e.author)
        self._voice.append(e.voice)

    def _entry(self, i: int) -> Entry:
        story, author = self._story[i], self._author[i]
        assert story is not None and author is not None
        return Entry(self._ts[i], story, author, self._weight[i], self._negative[i], self._voice[i])

    def __iter__(self) -> Iterator[Entry]:
        return (self._entry(i) for i in range(self._head, len(self._ts)))

    def negatives(self) -> Iterator[Entry]:
        """The entries of negative posts (those with a voice), oldest first."""
        voice = self._voice
        return (self._entry(i) for i in range(self._head, len(voice)) if voice[i] is not None)

    def pop_before(self, horizon: float) -> list[Entry]:
        """Remove and return, oldest first, the entries older than ``horizon``."""
        ts, head, end = self._ts, self._head, len(self._ts)
        out: list[Entry] = []
        story, author, voice = self._story, self._author, self._voice
        while head < end and ts[head] < horizon:
            out.append(self._entry(head))
            story[head] = author[head] = voice[head] = None  # let go of what it pointed at
            head += 1
        if head == end or (head >= self._COMPACT and head * 2 >= end):
            for column in (ts, self._weight, self._negative, story, author, voice):
                del column[:head]  # amortised: each row moves at most once per halving
            head = 0
        self._head = head
        return out
