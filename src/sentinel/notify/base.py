"""The notifier seam: one class per chat service, all of the same shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sentinel.config import NotifyConfig, level_rank
from sentinel.risk.base import AlertEvent

__all__ = ["Notifier", "NotifyError", "wants"]


class NotifyError(Exception):
    """A failed delivery. ``retryable`` decides between retry-with-backoff and parking as dead."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Notifier(Protocol):
    channel: str
    config: NotifyConfig

    async def send(self, events: Sequence[AlertEvent]) -> None:
        """Deliver one event (len 1) or a digest of several; raise NotifyError on failure."""
        ...

    async def close(self) -> None: ...


def wants(config: NotifyConfig, event: AlertEvent) -> bool:
    """Does this channel want this event (level at or above ``min_level``, watch filter)?

    A resolved or de-escalated event goes to every channel that was told about the alert,
    which is any channel whose ``min_level`` the previous level reached.
    """
    if config.watches is not None and event.watch not in config.watches:
        return False
    level = event.level
    if event.event in ("resolved", "deescalated") and event.previous_level:
        level = event.previous_level
    return level_rank(level) >= level_rank(config.min_level)
