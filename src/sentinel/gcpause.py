"""Keeping the cyclic garbage collector off the hot paths: paused while a large batch of
objects is built, and kept away from what the process made while starting.

A week's review report reads ~16,000 posts and makes ~100,000 objects of them (posts, their
authors, their scores, the groups of the summary) that live until the report is written. Each
one counts towards the collector's next run, so it runs hundreds of times during the build and,
every build or two, scans the whole heap: half of the report's time on the bench store
(``bench/console.py``: 220 of 450 ms), to find nothing, since none of them is in a reference
cycle. Paused while they are made, it runs once afterwards, over what is still young.

The pause is the process's: a build that awaits the store lets the daemon's other tasks run
meanwhile, and the few reference cycles they leave wait for the end of the build (a fraction
of a second for a week's report). Pauses nest, across tasks and threads: the collector resumes
when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["freeze_startup", "gc_paused"]

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic collection inside (nested pauses and threads end it once, at the last).

    >>> import gc
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


def freeze_startup() -> int:
    """Leave what the process holds now out of every later collection (``gc.freeze``); the
    number of objects frozen.

    A started daemon holds ~500,000 objects that live as long as it does (the libraries'
    modules and classes, the classifier, the settings, the windows warmed from the store).
    The collector's full collection scans them all every time, ~0.3 s on the bench's VM, and
    at 750 posts/s the posts the risk engine holds until their tick bring one on every ~20 s:
    the event loop stands still meanwhile, and an alert on its way waits (bench/e2e.py;
    docs/scaling.md, "Alert latency"). Frozen, a full collection scans only what came after.
    Garbage is collected first, so that no cycle is frozen with them.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
