"""A built-in, realistic Weibo-like stream for one brand, played in real time (the demo).

It plays a scenario from :mod:`sentinel.simulate.scenario` (``demo`` by default: everyday
chatter, then a complaint that turns into a crisis a little later), each post published
when the clock reaches its ``created_at``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sentinel.sources.base import PostSink, SourceContext

__all__ = ["SimulatedSource"]


class SimulatedSource:
    """``[[source]] type = "simulated"``, options ``scenario``, ``seed``, ``brand``, ``loop``."""

    streaming = True

    def __init__(self, ctx: SourceContext) -> None:
        opts = dict(ctx.config.options)
        unknown = set(opts) - {"scenario", "seed", "brand", "loop"}
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))}")
        self.scenario = str(opts.get("scenario", "demo"))
        self.seed = int(opts.get("seed", 0))
        self.brand = str(opts.get("brand", "艾克美"))
        self.loop = bool(opts.get("loop", False))
        self.ctx = ctx
        self.name = ctx.name

    async def collect(self, sink: PostSink) -> None:
        from sentinel.simulate.scenario import generate

        round_ = 0
        while True:
            start = self.ctx.clock.now()
            count = 0
            for record in generate(self.scenario, start=start, seed=self.seed + round_, brand=self.brand):
                due = datetime.fromisoformat(record["created_at"])
                wait = (due - self.ctx.clock.now()).total_seconds()
                if wait > 0:
                    await asyncio.sleep(wait)
                if round_:
                    record = _renamed(record, round_)
                await sink.put(record)
                count += 1
            self.ctx.health.success(self.ctx.clock.now(), count)
            if not self.loop:
                return
            round_ += 1

    async def close(self) -> None:
        return None


def _renamed(record: dict[str, Any], round_: int) -> dict[str, Any]:
    """Each loop must produce new post ids, or the store would see only duplicates."""
    record = dict(record)
    record["id"] = f"{record['id']}-r{round_}"
    if record.get("repost_of"):
        record["repost_of"] = f"{record['repost_of']}-r{round_}"
    return record
