"""glibc malloc tuning for the long-running daemon (a no-op elsewhere).

Two things hold a busy daemon's RSS above what Python actually uses:

* **arenas**: glibc gives each thread that allocates its own arena (up to 8 × cores). The
  classifier thread, aiosqlite's worker threads and torch's pool each keep freed memory in
  theirs. :func:`limit_arenas` caps them (``M_ARENA_MAX``) unless the operator already set
  ``MALLOC_ARENA_MAX`` in the environment (glibc read it at start; the Docker image and the
  systemd unit set 2).
* **freed pages kept**: glibc returns memory to the kernel only from the top of the main
  heap; whole free pages in the middle of a heap, or in a thread's arena, stay resident.
  :func:`trim` (``malloc_trim(0)``) releases them. :func:`trim_forever` does so every ten seconds,
  in a worker thread (ctypes drops the GIL for the call, so the event loop keeps running;
  a call takes ~40 ms on a fragmented 700 MB heap, during which other threads' malloc waits
  for the arena lock). Between trims, freed pages pile up again: at 1,500 posts/s the daemon's
  RSS climbed ~70 MiB a minute between once-a-minute trims, so the peak was set just before
  each one.

Measured effect: docs/performance.md (*Memory*, the allocator rows).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import sys
from functools import cache

__all__ = ["TRIM_INTERVAL", "limit_arenas", "trim", "trim_forever"]

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # <malloc.h>
DEFAULT_ARENAS = 2
TRIM_INTERVAL = 10.0


@cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):  # not glibc (musl has neither function)
        return None
    return libc


def limit_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas; call before the threads start. False when not applied
    (not glibc, or ``MALLOC_ARENA_MAX`` is set and wins)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give freed heap pages back to the kernel; True if any were released."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))


async def trim_forever(interval: float = TRIM_INTERVAL) -> None:
    """Run :func:`trim` every ``interval`` seconds until cancelled (a task of the daemon)."""
    if _libc() is None:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(trim)
        except Exception:  # never let housekeeping kill the daemon
            log.exception("malloc_trim failed")
