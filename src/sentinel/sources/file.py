"""Replay a JSONL file of canonical posts, then follow lines appended to it (like ``tail -F``).

The byte offset of the last stored line is the cursor: after a crash the file is re-read
from there, and the store's (platform, id) identity absorbs the few lines read twice. The
cursor is saved only once every post before it is stored; while the store refuses writes
the source waits (see docs/reliability.md).

A file replaced (another inode), truncated (shorter than the offset) or truncated and
rewritten past the offset between two polls (same inode, size >= offset) is read again
from the start: the cursor keeps a fingerprint of the file's first bytes, and a rewrite
changes them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sentinel.config import parse_duration
from sentinel.post import PostError, parse_post_json
from sentinel.sources.base import PostSink, SourceContext
from sentinel.store.retry import Backoff, describe

__all__ = ["FileSource"]

log = logging.getLogger(__name__)
MAX_LINE_BYTES = 1 << 20
HEAD_BYTES = 1024  # the fingerprint covers this much of the file's start (or up to the offset)
MIN_POLL = 0.01  # seconds: a smaller poll interval would only burn a core


@dataclass(frozen=True)
class _Options:
    path: Path
    follow: bool = True
    poll: float = 0.5
    checkpoint_every: int = 2000


class FileSource:
    """``[[source]] type = "file"``, ``path = "posts.jsonl"``, ``follow = true``."""

    streaming = True

    def __init__(self, ctx: SourceContext) -> None:
        opts = dict(ctx.config.options)
        unknown = set(opts) - {"path", "follow", "poll", "checkpoint_every"}
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))}")
        if not isinstance(opts.get("path"), str) or not opts["path"]:
            raise ValueError("path is required (a JSONL file of canonical posts)")
        self.options = _Options(
            path=Path(opts["path"]),
            follow=_flag(opts.get("follow", True), "follow"),
            poll=_poll(opts.get("poll", 0.5)),
            checkpoint_every=_count(opts.get("checkpoint_every", 2000), "checkpoint_every"),
        )
        self.ctx = ctx
        self.name = ctx.name

    async def _load_cursor(self) -> tuple[int, int | None, str | None]:
        raw = await self.ctx.cursors.get_cursor(self.name)
        if not raw:
            return 0, None, None
        try:
            data = json.loads(raw)
            head = data.get("head")
            return int(data["offset"]), data.get("inode"), head if isinstance(head, str) else None
        except (ValueError, KeyError, TypeError):
            log.warning("source %s: unreadable cursor %r, starting from the beginning", self.name, raw)
            return 0, None, None

    async def _checkpoint(self, sink: PostSink, fh: IO[bytes], offset: int, inode: int) -> None:
        await sink.flush()  # only a stored post moves the cursor past its line
        cursor = json.dumps({"offset": offset, "inode": inode, "head": _fingerprint(fh, offset)})
        retry = Backoff()
        while True:
            try:
                await self.ctx.cursors.set_cursor(self.name, cursor)
                return
            except Exception as exc:
                # wait for the store here: giving up would re-read (and re-send) every line
                # since the last cursor once the source restarted
                delay = retry.next_delay()
                log.warning(
                    "source %s: cursor not saved (%s); retrying in %.1fs", self.name, describe(exc), delay
                )
                await asyncio.sleep(delay)

    async def collect(self, sink: PostSink) -> None:
        offset, inode, head = await self._load_cursor()
        path = self.options.path
        while True:
            try:
                fh = path.open("rb")
            except FileNotFoundError:
                if not self.options.follow:
                    self.ctx.health.failure(self.ctx.clock.now(), "missing_file", str(path))
                    return
                await asyncio.sleep(self.options.poll)
                continue
            with fh:
                stat = os.fstat(fh.fileno())
                if (
                    (inode is not None and stat.st_ino != inode)
                    or stat.st_size < offset
                    or (head is not None and _fingerprint(fh, offset) != head)
                ):
                    log.info(
                        "source %s: %s was replaced or truncated, reading from the start", self.name, path
                    )
                    offset = 0
                inode = stat.st_ino
                fh.seek(offset)
                offset = await self._read(fh, sink, offset, inode)
                head = _fingerprint(fh, offset)
            if not self.options.follow:
                return
            await asyncio.sleep(self.options.poll)
            try:
                if path.stat().st_ino == inode and path.stat().st_size == offset:
                    continue
            except FileNotFoundError:
                continue

    async def _read(self, fh: IO[bytes], sink: PostSink, offset: int, inode: int) -> int:
        """Read every complete line from ``offset``; return the offset after the last one."""
        since_checkpoint = 0
        items = 0
        while True:
            line = fh.readline(MAX_LINE_BYTES + 1)
            if not line:
                break
            if not line.endswith(b"\n"):
                if len(line) <= MAX_LINE_BYTES and self.options.follow:
                    break  # a line still being written: read it whole next time
                if len(line) > MAX_LINE_BYTES:
                    rest = fh.readline()  # skip to the end of the oversize line
                    while rest and not rest.endswith(b"\n"):
                        rest = fh.readline()
                    line += rest
                    sink.reject("oversize", f"line longer than {MAX_LINE_BYTES} bytes")
                    offset += len(line)
                    continue
            offset += len(line)
            if line.strip():
                items += 1
                try:
                    post = parse_post_json(line)
                except PostError as exc:
                    sink.reject(exc.reason, exc.detail)
                else:
                    await sink.put(post)
            since_checkpoint += 1
            if since_checkpoint >= self.options.checkpoint_every:
                await self._checkpoint(sink, fh, offset, inode)
                since_checkpoint = 0
        await self._checkpoint(sink, fh, offset, inode)
        self.ctx.health.success(self.ctx.clock.now(), items)
        return offset

    async def close(self) -> None:
        return None


def _fingerprint(fh: IO[bytes], offset: int) -> str | None:
    """A digest of the file's first bytes, up to ``offset``: what was read must still be there.

    ``os.pread`` leaves the reader's position alone. None before anything was read.
    """
    size = min(offset, HEAD_BYTES)
    if size <= 0:
        return None
    return hashlib.blake2b(os.pread(fh.fileno(), size, 0), digest_size=16).hexdigest()


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a whole number of at least 1, got {value!r}")
    return value


def _poll(value: Any) -> float:
    """``poll``: seconds between looks at a followed file, a number or a duration ("500ms")."""
    try:
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < MIN_POLL:
        raise ValueError(
            f"poll must be a duration of at least {MIN_POLL}s (e.g. 0.5 or '500ms'), got {value!r}"
        )
    return seconds
