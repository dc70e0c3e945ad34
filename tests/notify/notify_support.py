"""Helpers for the notifier tests: alert events and an in-memory notifier."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sentinel.config import NotifyConfig
from sentinel.notify.base import NotifyError
from sentinel.risk.base import AlertEvent

T0 = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def make_event(
    n: int = 0,
    *,
    level: str = "orange",
    event: str = "opened",
    watch: str = "acme",
    text: str = "艾克美 产品质量问题",
    **factors: Any,
) -> AlertEvent:
    return AlertEvent(
        event=event,
        watch=watch,
        level=level,
        risk=62.5 + n % 30,
        at=T0 + timedelta(minutes=n),
        factors={
            "volume_ratio": 4.2,
            "negative_share": 0.71,
            "velocity": 12.0,
            "crisis_type": "quality",
            **factors,
        },
        posts=[f"p{n}"],
        samples=[
            {
                "id": f"p{n}",
                "text": text,
                "author": "某用户",
                "followers": 120000,
                "url": f"https://m.weibo.cn/detail/{n}",
                "negative": 0.93,
            }
        ],
    )


class RecordingNotifier:
    """A real, in-memory Notifier: records what it is sent; can be told to fail."""

    def __init__(
        self, name: str = "rec", *, min_level: str = "blue", rate_limits: Sequence[tuple[int, float]] = ()
    ) -> None:
        self.config = NotifyConfig(type="console", name=name, min_level=min_level)  # type: ignore[arg-type]
        self.channel = name
        self.rate_limits = tuple(rate_limits)
        self.max_digest = 20
        self.received: list[list[AlertEvent]] = []
        self.fail: Callable[[Sequence[AlertEvent]], NotifyError | None] = lambda evs: None
        self.closed = False

    async def send(self, events: Sequence[AlertEvent]) -> None:
        err = self.fail(events)
        if err is not None:
            raise err
        self.received.append(list(events))

    async def close(self) -> None:
        self.closed = True


def build(kind: str, url: str | None, secret: str | None = None, **options: Any) -> Any:
    """A notifier exactly as ``build_notifiers`` makes it from a ``[[notify]]`` section."""
    from prometheus_client import CollectorRegistry

    from sentinel.clock import SystemClock
    from sentinel.notify import build_notifier
    from sentinel.obs.metrics import Metrics

    config = NotifyConfig.model_validate({"type": kind, "url": url, "secret": secret, **options})
    return build_notifier(config, clock=SystemClock(), metrics=Metrics(CollectorRegistry()))


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll ``check`` until it holds: the machine running the tests may be slow and busy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
