"""Tables. Times are UTC epoch seconds (float): dialect-neutral, indexable, exact in event time.

The migration in ``alembic/versions`` creates exactly these; change both together.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

posts = Table(
    "posts",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(32), nullable=False),
    Column("post_id", String(256), nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("ingested_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("source", String(128)),
    Column("author_id", String(256)),
    Column("followers", Integer, nullable=False, default=0),
    Column("reposts", Integer, nullable=False, default=0),
    Column("comments", Integer, nullable=False, default=0),
    Column("likes", Integer, nullable=False, default=0),
    Column("repost_of", String(256)),
    Column("seen", Integer, nullable=False, default=1),
    Column("text", Text, nullable=False),
    Column("data", Text, nullable=False),  # the canonical post JSON, extra fields included
    UniqueConstraint("platform", "post_id", name="uq_posts_platform_id"),
)
Index("ix_posts_created_ts", posts.c.created_ts)
Index("ix_posts_repost_of", posts.c.platform, posts.c.repost_of)

classifications = Table(
    "classifications",
    metadata,
    Column("post_pk", Integer, ForeignKey("posts.pk", ondelete="CASCADE"), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("negative", Float, nullable=False),
    Column("label", String(16), nullable=False),
    Column("topics", Text, nullable=False),  # JSON {label: score}
    Column("scored_ts", Float, nullable=False),
)

post_watches = Table(
    "post_watches",
    metadata,
    Column("post_pk", Integer, ForeignKey("posts.pk", ondelete="CASCADE"), primary_key=True),
    Column("watch", String(128), primary_key=True),
    # own (an account of the watch's) | match (its text) | repost (reposts, through its chain, one of these)
    Column("via", String(16), nullable=False),
)
Index("ix_post_watches_watch", post_watches.c.watch, post_watches.c.post_pk)

watch_rules = Table(
    "watch_rules",
    metadata,
    Column("watch", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # of the query and accounts decided with
    Column("decided_ts", Float, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("watch", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("level", String(16), nullable=False),
    Column("risk", Float, nullable=False),
    Column("opened_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("resolved_ts", Float),
    Column("acked_by", String(128)),
    Column("acked_ts", Float),
    Column("ack_note", Text),
)
Index("ix_alerts_watch_status", alerts.c.watch, alerts.c.status)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("watch", String(128), nullable=False),
    Column("event", String(16), nullable=False),
    Column("level", String(16), nullable=False),
    Column("risk", Float, nullable=False),
    Column("at_ts", Float, nullable=False),
    Column("data", Text, nullable=False),  # the full event JSON (DESIGN.md backtest line)
)
Index("ix_alert_events_alert", alert_events.c.alert_id)

source_cursors = Table(
    "source_cursors",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_ts", Float, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ts", Float, nullable=False),
    Column("last_error", Text),
    Column("created_ts", Float, nullable=False),
    Column("sent_ts", Float),
    UniqueConstraint("event_id", "channel", name="uq_outbox_event_channel"),
)
Index("ix_outbox_status_next", outbox.c.status, outbox.c.next_attempt_ts)

silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("watch", String(128), nullable=False),
    Column("starts_ts", Float, nullable=False),
    Column("ends_ts", Float, nullable=False),
    Column("reason", Text),
    Column("created_by", String(128)),
    Column("created_ts", Float, nullable=False),
)

responses = Table(
    "responses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("watch", String(128), nullable=False),
    Column("at_ts", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("note", Text),
    Column("url", Text),
    Column("created_ts", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_ts", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256)),
    Column("data", Text),
)

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("expires_ts", Float, nullable=False),
)

__all__ = [
    "alert_events",
    "alerts",
    "audit_log",
    "classifications",
    "leases",
    "metadata",
    "outbox",
    "post_watches",
    "posts",
    "responses",
    "silences",
    "source_cursors",
    "users",
    "watch_rules",
]
