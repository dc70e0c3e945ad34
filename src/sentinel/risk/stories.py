"""Stories: posts grouped by repost chains and near-duplicate text.

500 copies of one complaint are one story with 500 voices. A post joins a story

1. through ``repost_of`` (the parent's story, or a story named after the unseen parent), or
2. as a near-duplicate: MinHash (32 hashes) over character 3-grams of the cleaned text,
   banded 8 x 4 for candidates, confirmed when the estimated Jaccard similarity of the
   signatures is at least ``threshold`` (0.5 by default; measured on the labelled pairs in
   ``tests/data/dup_pairs.jsonl``, see docs/risk.md).

State is bounded by ``ttl``: posts and stories not seen for that long are forgotten.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sentinel.risk.text import clean_for_dedup

__all__ = ["Story", "StoryIndex", "minhash_signatures", "signatures_and_bands", "similarity"]

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


def signatures_and_bands(texts: Sequence[str], k: int = 3) -> list[tuple[np.ndarray, list[int]] | None]:
    """Signatures and their LSH band keys, for a batch of folded texts (None: too short)."""
    cleaned = [clean_for_dedup(t) for t in texts]
    out: list[tuple[np.ndarray, list[int]] | None] = [None] * len(texts)
    keep = [i for i, c in enumerate(cleaned) if len(c) >= k]
    if not keep:
        return out
    # one code-point array for the batch, posts separated by k-1 pad code points (0);
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
    perm = (_A * h[None, :] + _B) >> np.uint64(32)
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
    return out


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.count_nonzero(a == b)) / NUM_HASHES


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


@dataclass(slots=True)
class Story:
    """A group of posts about one thing; ``id`` is its first post's id (or the unseen parent's)."""

    id: str
    first_ts: float
    last_ts: float
    text: str = ""
    size: int = 0
    negative_sum: float = 0.0
    root_negative: float | None = None
    root_followers: int = 0
    severity: float = 0.0
    watches: set[int] = field(default_factory=set)
    signature: np.ndarray | None = None
    bands: list[int] = field(default_factory=list)

    @property
    def negativity(self) -> float:
        mean = self.negative_sum / self.size if self.size else 0.0
        return max(mean, self.root_negative or 0.0)


class StoryIndex:
    """Assigns posts to stories; remembers posts and stories for ``ttl`` seconds of event time."""

    def __init__(self, *, threshold: float = 0.5, ttl: float = 86400.0) -> None:
        self.threshold = threshold
        self.ttl = ttl
        self.stories: dict[str, Story] = {}
        self._post_story: dict[tuple[str, str], str] = {}
        self.counts: dict[tuple[str, str], int] = {}  # reposts + comments at the last sighting
        self._post_seen: deque[tuple[float, tuple[str, str]]] = deque()
        self._bands: dict[int, str] = {}
        self._last_sweep = float("-inf")

    def __len__(self) -> int:
        return len(self.stories)

    def story_of(self, key: tuple[str, str]) -> Story | None:
        sid = self._post_story.get(key)
        return self.stories.get(sid) if sid is not None else None

    def knows(self, key: tuple[str, str]) -> bool:
        return key in self._post_story

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
            parent = self._post_story.get((platform, repost_of))
            sid = parent if parent is not None else repost_of
            story = self.stories.get(sid)
            if story is None:
                story = self.stories[sid] = Story(id=sid, first_ts=ts, last_ts=ts, text=text)
        elif key[1] in self.stories:  # its reposts arrived first and named the story after it
            story = self.stories[key[1]]
            if signature is not None and story.signature is None:
                story.signature, story.bands = signature, _band_keys(signature)
                for band in story.bands:
                    self._bands.setdefault(band, story.id)
        elif signature is not None:
            bands = bands if bands is not None else _band_keys(signature)
            for band in bands:
                owner = self._bands.get(band)
                cand = self.stories.get(owner) if owner is not None else None
                if cand is not None and cand.signature is not None:
                    if similarity(cand.signature, signature) >= self.threshold:
                        story, by_text = cand, True
                        break
            if story is None:
                story = self.stories[key[1]] = Story(
                    id=key[1], first_ts=ts, last_ts=ts, text=text, signature=signature, bands=bands
                )
                for band in bands:
                    self._bands.setdefault(band, story.id)
        if story is None:
            story = self.stories.get(key[1])
            if story is None:
                story = self.stories[key[1]] = Story(id=key[1], first_ts=ts, last_ts=ts, text=text)
        story.last_ts = max(story.last_ts, ts)
        self._post_story[key] = story.id
        self._post_seen.append((ts, key))
        return story, by_text

    def expire(self, now: float) -> None:
        """Forget posts older than ``ttl`` and, hourly, stories idle for that long."""
        horizon = now - self.ttl
        seen = self._post_seen
        while seen and seen[0][0] < horizon:
            _, key = seen.popleft()
            self._post_story.pop(key, None)
            self.counts.pop(key, None)
        # the sweep runs on hour boundaries of event time, so that it does not depend on
        # when evaluate() happened to be called
        hour = now // 3600
        if hour <= self._last_sweep:
            return
        self._last_sweep = hour
        horizon = hour * 3600 - self.ttl
        for sid in [sid for sid, s in self.stories.items() if s.last_ts < horizon]:
            story = self.stories.pop(sid)
            for band in story.bands:
                if self._bands.get(band) == sid:
                    del self._bands[band]
