"""Pausing the cyclic garbage collector while a large batch of objects is built.

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

__all__ = ["gc_paused"]

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
