"""Stories: posts grouped by repost chains and near-duplicate text.

500 copies of one complaint are one story with 500 voices. A post joins a story

1. through ``repost_of`` (the parent's story, or a story named after the unseen parent), or
2. as a near-duplicate: MinHash (32 hashes) over character 3-grams of the cleaned text,
   banded 8 x 4 for candidates, confirmed when the estimated Jaccard similarity of the
   signatures is at least ``threshold`` (0.5 by default; measured on the labelled pairs in
   ``tests/data/dup_pairs.jsonl``, see docs/risk.md).

State is bounded by ``ttl`` (posts and stories not seen for that long are forgotten) and by
count: at most ``max_posts`` post keys and ``max_stories`` stories. The caps matter at high
volume, where a day of post keys would be gigabytes (~330 bytes a post before the caps).
Both evict like CLOCK, an LRU approximation: the oldest entry goes first unless it was used
since it was queued (a post re-sighted or reposted, a story that gained a post), in which case
it goes to the back of the queue once more; a large story (``large`` posts or more) also gets
one extra round when quiet. So the stories that matter, recent and large, keep grouping their
near-duplicates and repost chains; what goes is the long tail of one-post stories. A post
whose key was evicted and which is seen again counts as new.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from sentinel.risk.text import clean_for_dedup

__all__ = [
    "DEFAULT_MAX_POSTS",
    "DEFAULT_MAX_STORIES",
    "Story",
    "StoryIndex",
    "minhash_signatures",
    "signatures_and_bands",
    "similarity",
    "watch_indices",
]

# sized for the memory budget at 1,500 matched posts/s (docs/performance.md, *Memory*):
# ~150 bytes a post key, ~1.5 KB a story with its signature and band keys
DEFAULT_MAX_POSTS = 300_000
DEFAULT_MAX_STORIES = 50_000
STORY_TEXT_CHARS = 140
ROOT_WEIGHT = 3.0  # reactions an original's own tone counts as
LIFE_TAU = 3 * 3600.0  # seconds over which a story's past posts fade from its recent count
PRIOR_TONE = 0.3  # a story's tone before anything of it is read
# an original that reads negative while its worded reactions lean positive is doubted: fully
# where the positive ones outnumber the negative by DOUBT_SPAN of the reactions, once
# DOUBT_N of them are read (fewer: proportionally less)
DOUBT_SPAN, DOUBT_N = 0.3, 5  # what alert events and the fast-post factor show of a story

NUM_HASHES = 32
BANDS = 8
ROWS = NUM_HASHES // BANDS
_rng = np.random.default_rng(20261128)  # fixed: signatures must be the same in every run
# multiply-shift hashing (odd 64-bit multipliers, wrapping arithmetic, top 32 bits)
_A = _rng.integers(1, 2**63, size=(NUM_HASHES, 1), dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, size=(NUM_HASHES, 1), dtype=np.uint64)
_MAX = np.uint64(2**63)
_K1, _K2 = np.uint64(1_000_003), np.uint64(2_654_435_761)


def minhash_signatures(texts: Sequence[str], k: int = 3) -> list[np.ndarray | None]:
    """MinHash signatures of already-folded texts, computed for the whole batch at once.

    Texts whose cleaned form is shorter than ``k`` get ``None`` (too short to compare).
    """
    return [None if x is None else x[0] for x in signatures_and_bands(texts, k)]


# n-grams hashed per numpy pass: the permutation matrix is NUM_HASHES x n uint64 (256 bytes
# an n-gram), so one tick of a busy daemon (15,000 posts at 1,500/s) hashed at once made a
# ~120 MB transient; 32,768 n-grams keep it at 8 MB and still amortise numpy's per-call cost
CHUNK_NGRAMS = 32_768


def signatures_and_bands(texts: Sequence[str], k: int = 3) -> list[tuple[np.ndarray, list[int]] | None]:
    """Signatures and their LSH band keys, for a batch of folded texts (None: too short).

    Hashed in chunks of about :data:`CHUNK_NGRAMS` n-grams; the result does not depend on
    the chunking (each text's signature is its own)."""
    cleaned = [clean_for_dedup(t) for t in texts]
    out: list[tuple[np.ndarray, list[int]] | None] = [None] * len(texts)
    chunk: list[int] = []
    size = 0
    for i, c in enumerate(cleaned):
        if len(c) < k:
            continue
        chunk.append(i)
        size += len(c)
        if size >= CHUNK_NGRAMS:
            _sign_chunk(cleaned, chunk, k, out)
            chunk, size = [], 0
    if chunk:
        _sign_chunk(cleaned, chunk, k, out)
    return out


def _sign_chunk(
    cleaned: Sequence[str], keep: Sequence[int], k: int, out: list[tuple[np.ndarray, list[int]] | None]
) -> None:
    # one code-point array for the chunk, posts separated by k-1 pad code points (0);
    # n-grams touching a pad are masked out before the segment minimum
    pad = "\0" * (k - 1)
    joined = pad.join(cleaned[i] for i in keep)
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = cp.size - k + 1
    h = cp[:n].copy()
    for j in range(1, k):
        h = h * _K1 + cp[j : j + n] * _K2 + np.uint64(j)
    h = (h ^ (h >> np.uint64(29))) & np.uint64(0xFFFFFFFF)
    is_pad = cp == 0
    masked = is_pad[:n].copy()
    for j in range(1, k):
        masked |= is_pad[j : j + n]
    perm = _A * h[None, :]  # the one NUM_HASHES x n array; the rest in place
    perm += _B
    perm >>= np.uint64(32)
    perm[:, masked] = _MAX
    starts = np.zeros(len(keep), dtype=np.int64)
    pos = 0
    for idx, i in enumerate(keep):
        starts[idx] = pos
        pos += len(cleaned[i]) + k - 1
    sigs = np.minimum.reduceat(perm, starts, axis=1)
    bands = _band_matrix(sigs).T.tolist()
    sig_rows = sigs.T.copy()
    for idx, i in enumerate(keep):
        out[i] = (sig_rows[idx], bands[idx])


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.count_nonzero(a == b)) / NUM_HASHES


def watch_indices(mask: int) -> Iterator[int]:
    """The watch indices set in a story's ``watches`` bit mask, ascending."""
    i = 0
    while mask:
        if mask & 1:
            yield i
        mask >>= 1
        i += 1


_BAND_MIX = _rng.integers(1, 2**61, size=(1, ROWS), dtype=np.uint64) | np.uint64(1)
_BAND_IDS = np.arange(BANDS, dtype=np.uint64)


def _band_matrix(sigs: np.ndarray) -> np.ndarray:
    """(NUM_HASHES, n) signatures -> (BANDS, n) keys: a 64-bit mix of each band's ROWS
    hashes, the band number in the low bits."""
    n = sigs.shape[1]
    mixed = (sigs.reshape(BANDS, ROWS, n) * _BAND_MIX.reshape(1, ROWS, 1)).sum(axis=1, dtype=np.uint64)
    return (mixed << np.uint64(3)) | _BAND_IDS.reshape(BANDS, 1)


def _band_keys(sig: np.ndarray) -> list[int]:
    keys: list[int] = _band_matrix(sig.reshape(NUM_HASHES, 1))[:, 0].tolist()
    return keys


@dataclass(slots=True, eq=False)
class Story:
    """A group of posts about one thing; ``id`` is its first post's id (or the unseen parent's).

    Kept small, since an index holds tens of thousands: ``watches`` is a bit mask of watch
    indices, the signature is raw bytes, the text only what events show of it.
    """

    id: str
    first_ts: float
    last_ts: float
    text: str = ""
    size: int = 0
    recent: float = 0.0  # its posts, each fading with a time constant of LIFE_TAU, as of recent_ts
    recent_ts: float = 0.0
    negative_sum: float = 0.0
    words_sum: float = 0.0  # how negative its reposts with words of their own read
    words_n: int = 0
    words_pos: int = 0  # ... of which the model reads this many as positive (with doubt_root)
    words_neg: int = 0  # ... and this many as negative
    serious: int = 0  # reposts that ask whether it is true or are alarmed (risk.text.takes_seriously)
    root_negative: float | None = None
    root_followers: int = 0
    severity: float = 0.0
    watches: int = 0
    sig: bytes | None = None
    reactions: list[str] | None = None  # the first reactions' own words (Engine, rumour model)
    rumour: float = 0.0  # P(rumour) as last read, with rumour_n reactions (-1: never read)
    rumour_n: int = -1
    queued_ts: float = 0.0  # last_ts when it last joined the eviction queue
    spared: bool = False  # a large quiet story's extra round was used

    def add_recent(self, ts: float) -> None:
        """Count one more post at ``ts`` in the fading count (posts arrive roughly in order)."""
        if ts > self.recent_ts:
            self.recent *= math.exp((self.recent_ts - ts) / LIFE_TAU)
            self.recent_ts = ts
        self.recent += 1.0

    def recent_at(self, ts: float) -> float:
        """Its posts as of ``ts``, older ones faded: a story that joined a day-old lookalike
        is judged on what it gathered lately, not on the day."""
        return self.recent * math.exp(min(0.0, self.recent_ts - ts) / LIFE_TAU)

    @property
    def root_heard(self) -> float | None:
        """The original's negativity as its reactions let it stand. A model misreads some
        cheerful posts as complaints (a joke with "[衰]", a singer's cover "不一样的味道"); then
        every repost would spread a "complaint" (sentinel.risk.context). Where more of the
        worded reactions read positive than negative, the crowd has read the post otherwise and
        the original's darkness is discounted (docs/risk.md; the engine counts no positive ones
        without ``doubt_root``). Alarming posts draw alarmed or doubting reactions, not
        cheerful ones, and keep theirs."""
        root = self.root_negative
        if root is None or not self.words_pos or root <= 0:
            return root
        lean = (self.words_pos - self.words_neg) / self.words_n
        doubt = min(1.0, max(0.0, lean / DOUBT_SPAN)) * min(1.0, self.words_n / DOUBT_N)
        return root * (1.0 - doubt)

    @property
    def negativity(self) -> float:
        """How negative the story can be: the mean of its posts or its original, the larger."""
        mean = self.negative_sum / self.size if self.size else 0.0
        return max(mean, self.root_heard or 0.0)

    @property
    def tone(self) -> float:
        """The story's tone: its original and the reposts with words of their own, read together.

        Bare reposts ("转发微博") add nothing here: they spread the story's tone (the engine
        gives them this tone). Counting them as the original instead was measured on the real
        cascade suite and lost 4 of 20 crises in each half (docs/risk.md): many real rumours
        read calm, their reactions do not. The original counts as ``ROOT_WEIGHT`` reactions,
        so that the first few do not swing the tone; without the original (its repost seen
        first) the tone starts from ``PRIOR_TONE``."""
        heard = self.root_heard
        root = heard if heard is not None else PRIOR_TONE
        return (ROOT_WEIGHT * root + self.words_sum) / (ROOT_WEIGHT + self.words_n)

    @property
    def signature(self) -> np.ndarray | None:
        return None if self.sig is None else np.frombuffer(self.sig, dtype=np.uint64)


class StoryIndex:
    """Assigns posts to stories; remembers posts and stories for ``ttl`` seconds of event time,
    and at most ``max_posts`` post keys and ``max_stories`` stories (see the module docstring).

    >>> idx = StoryIndex(max_posts=2)
    >>> for i in range(3):
    ...     _ = idx.assign(("weibo", str(i)), float(i), "转发", "root", None)
    >>> idx.posts, idx.evicted_posts, idx.knows(("weibo", "0"))
    (2, 1, False)
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        ttl: float = 86400.0,
        max_posts: int = DEFAULT_MAX_POSTS,
        max_stories: int = DEFAULT_MAX_STORIES,
        large: int = 20,
        on_evict: Callable[[str, int], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.ttl = ttl
        self.max_posts = max_posts
        self.max_stories = max_stories
        self.large = large
        self.on_evict = on_evict  # (kind, n): "post" / "story" entries dropped by the caps
        self.stories: dict[str, Story] = {}
        # post keys are stored as their 64-bit hash: 32 bytes instead of a tuple and its id
        # string (~110); two of a million keys colliding has odds of about 1 in 30 million
        self._post_story: dict[int, str] = {}
        self._counts: dict[int, int] = {}  # reposts + comments at the last sighting, when > 0
        self._post_ts = array("d")  # first-sighting times, in queue order, for the ttl
        self._post_queue: deque[int] = deque()  # hashed keys, oldest first (the CLOCK queue)
        self._post_head = 0
        self._used: set[int] = set()  # keys looked up since they were queued (a second chance)
        self._story_queue: deque[Story] = deque()
        self._bands: dict[int, str] = {}
        self._last_sweep = float("-inf")
        self._latest = float("-inf")
        self.evicted_posts = 0
        self.evicted_stories = 0

    def __len__(self) -> int:
        return len(self.stories)

    @property
    def posts(self) -> int:
        """How many post keys the index remembers."""
        return len(self._post_story)

    def story_of(self, key: tuple[str, str]) -> Story | None:
        h = hash(key)
        sid = self._post_story.get(h)
        if sid is None:
            return None
        self._used.add(h)
        return self.stories.get(sid)

    def knows(self, key: tuple[str, str]) -> bool:
        return hash(key) in self._post_story

    def last_counts(self, key: tuple[str, str]) -> int:
        """Reposts + comments of a known post when it was last seen."""
        return self._counts.get(hash(key), 0)

    def set_counts(self, key: tuple[str, str], counts: int) -> None:
        h = hash(key)
        if counts > 0:
            self._counts[h] = counts
        else:
            self._counts.pop(h, None)

    def assign(
        self,
        key: tuple[str, str],
        ts: float,
        text: str,
        repost_of: str | None,
        signature: np.ndarray | None,
        bands: list[int] | None = None,
    ) -> tuple[Story, bool]:
        """The story for a new post, and whether it joined by near-duplicate text."""
        platform = key[0]
        story: Story | None = None
        by_text = False
        if repost_of is not None:
            ph = hash((platform, repost_of))
            parent = self._post_story.get(ph)
            if parent is not None:
                self._used.add(ph)  # a reposted post stays: its chain keeps growing
            sid = parent if parent is not None else repost_of
            story = self.stories.get(sid)
            if story is None:
                story = self._new_story(sid, ts, text)
        elif key[1] in self.stories:  # its reposts arrived first and named the story after it
            story = self.stories[key[1]]
            if signature is not None and story.sig is None:
                story.sig = signature.tobytes()
                for band in _band_keys(signature):
                    self._bands.setdefault(band, story.id)
        elif signature is not None:
            bands = bands if bands is not None else _band_keys(signature)
            for band in bands:
                owner = self._bands.get(band)
                cand = self.stories.get(owner) if owner is not None else None
                if cand is not None and cand.sig is not None:
                    if similarity(np.frombuffer(cand.sig, dtype=np.uint64), signature) >= self.threshold:
                        story, by_text = cand, True
                        break
            if story is None:
                story = self._new_story(key[1], ts, text)
                story.sig = signature.tobytes()
                for band in bands:
                    self._bands.setdefault(band, story.id)
        if story is None:
            story = self.stories.get(key[1])
            if story is None:
                story = self._new_story(key[1], ts, text)
        story.last_ts = max(story.last_ts, ts)
        h = hash(key)
        if h not in self._post_story:
            self._queue_post(h, ts)
        self._post_story[h] = story.id
        return story, by_text

    def _new_story(self, sid: str, ts: float, text: str) -> Story:
        story = self.stories[sid] = Story(id=sid, first_ts=ts, last_ts=ts, text=text[:STORY_TEXT_CHARS])
        story.queued_ts = ts
        self._story_queue.append(story)
        if len(self.stories) > self.max_stories:
            self._evict_stories()
        return story

    def _queue_post(self, h: int, ts: float) -> None:
        self._latest = max(self._latest, ts)
        # the queue must stay in time order for the ttl: a late post is queued as of the latest
        self._post_ts.append(self._latest)
        self._post_queue.append(h)
        if len(self._post_queue) > self.max_posts:
            self._evict_posts()

    def _evict_posts(self) -> None:
        queue, used = self._post_queue, self._used
        while len(queue) > self.max_posts:
            h = queue.popleft()
            self._post_head += 1
            if h in used:  # second chance: to the back of the queue, as of now
                used.discard(h)
                self._post_ts.append(self._latest)
                queue.append(h)
                continue
            self._forget_post(h)
            self.evicted_posts += 1
            if self.on_evict is not None:
                self.on_evict("post", 1)
        self._compact()

    def _forget_post(self, h: int) -> None:
        self._post_story.pop(h, None)
        self._counts.pop(h, None)
        self._used.discard(h)

    def _compact(self) -> None:
        head = self._post_head
        if head >= 4096 and head * 2 >= len(self._post_ts):
            del self._post_ts[:head]
            self._post_head = 0

    def _evict_stories(self) -> None:
        queue = self._story_queue
        while len(self.stories) > self.max_stories and queue:
            story = queue.popleft()
            if self.stories.get(story.id) is not story:
                continue  # already forgotten (ttl) or replaced
            if story.last_ts > story.queued_ts or (story.size >= self.large and not story.spared):
                # used since it was queued, or large: once more round the queue
                story.spared = story.last_ts <= story.queued_ts
                story.queued_ts = story.last_ts
                queue.append(story)
                continue
            self._drop_story(story)
            self.evicted_stories += 1
            if self.on_evict is not None:
                self.on_evict("story", 1)

    def _drop_story(self, story: Story) -> None:
        del self.stories[story.id]
        if story.sig is not None:
            for band in _band_keys(np.frombuffer(story.sig, dtype=np.uint64)):
                if self._bands.get(band) == story.id:
                    del self._bands[band]

    def expire(self, now: float) -> None:
        """Forget posts older than ``ttl`` and, hourly, stories idle for that long."""
        horizon = now - self.ttl
        ts, queue = self._post_ts, self._post_queue
        head = self._post_head
        while queue and ts[head] < horizon:
            self._forget_post(queue.popleft())
            head += 1
        self._post_head = head
        self._compact()
        # the sweep runs on hour boundaries of event time, so that it does not depend on
        # when evaluate() happened to be called
        hour = now // 3600
        if hour <= self._last_sweep:
            return
        self._last_sweep = hour
        horizon = hour * 3600 - self.ttl
        stale = [s for s in self.stories.values() if s.last_ts < horizon]
        for story in stale:
            self._drop_story(story)
        if stale:
            self._story_queue = deque(s for s in self._story_queue if self.stories.get(s.id) is s)
