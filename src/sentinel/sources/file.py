"""Replay a JSONL file of canonical posts, then follow lines appended to it (like ``tail -F``).

The byte offset of the last stored line is the cursor: after a crash the file is re-read
from there, and the store's (platform, id) identity absorbs the few lines read twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sentinel.post import PostError, parse_post_json
from sentinel.sources.base import PostSink, SourceContext

__all__ = ["FileSource"]

log = logging.getLogger(__name__)
MAX_LINE_BYTES = 1 << 20


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
            follow=bool(opts.get("follow", True)),
            poll=float(opts.get("poll", 0.5)),
            checkpoint_every=int(opts.get("checkpoint_every", 2000)),
        )
        self.ctx = ctx
        self.name = ctx.name

    async def _load_cursor(self) -> tuple[int, int | None]:
        raw = await self.ctx.cursors.get_cursor(self.name)
        if not raw:
            return 0, None
        try:
            data = json.loads(raw)
            return int(data["offset"]), data.get("inode")
        except (ValueError, KeyError, TypeError):
            log.warning("source %s: unreadable cursor %r, starting from the beginning", self.name, raw)
            return 0, None

    async def _checkpoint(self, sink: PostSink, offset: int, inode: int) -> None:
        await sink.flush()  # only a stored post moves the cursor past its line
        await self.ctx.cursors.set_cursor(self.name, json.dumps({"offset": offset, "inode": inode}))

    async def collect(self, sink: PostSink) -> None:
        offset, inode = await self._load_cursor()
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
                if (inode is not None and stat.st_ino != inode) or stat.st_size < offset:
                    log.info(
                        "source %s: %s was replaced or truncated, reading from the start", self.name, path
                    )
                    offset = 0
                inode = stat.st_ino
                fh.seek(offset)
                offset = await self._read(fh, sink, offset, inode)
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
                await self._checkpoint(sink, offset, inode)
                since_checkpoint = 0
        await self._checkpoint(sink, offset, inode)
        self.ctx.health.success(self.ctx.clock.now(), items)
        return offset

    async def close(self) -> None:
        return None
