"""Persistence: posts, scores, alerts, cursors, outbox (SQLite or PostgreSQL)."""

from sentinel.store.sql import SqlStore, async_url

__all__ = ["SqlStore", "async_url"]
