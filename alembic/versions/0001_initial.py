"""initial schema: posts, classifications, alerts, alert events, cursors, outbox, silences, responses

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("post_id", sa.String(256), nullable=False),
        sa.Column("created_ts", sa.Float, nullable=False),
        sa.Column("ingested_ts", sa.Float, nullable=False),
        sa.Column("updated_ts", sa.Float, nullable=False),
        sa.Column("source", sa.String(128)),
        sa.Column("author_id", sa.String(256)),
        sa.Column("followers", sa.Integer, nullable=False),
        sa.Column("reposts", sa.Integer, nullable=False),
        sa.Column("comments", sa.Integer, nullable=False),
        sa.Column("likes", sa.Integer, nullable=False),
        sa.Column("repost_of", sa.String(256)),
        sa.Column("seen", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.UniqueConstraint("platform", "post_id", name="uq_posts_platform_id"),
    )
    op.create_index("ix_posts_created_ts", "posts", ["created_ts"])
    op.create_table(
        "classifications",
        sa.Column("post_pk", sa.Integer, sa.ForeignKey("posts.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("negative", sa.Float, nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("scored_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("watch", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("opened_ts", sa.Float, nullable=False),
        sa.Column("updated_ts", sa.Float, nullable=False),
        sa.Column("resolved_ts", sa.Float),
        sa.Column("acked_by", sa.String(128)),
        sa.Column("acked_ts", sa.Float),
        sa.Column("ack_note", sa.Text),
    )
    op.create_index("ix_alerts_watch_status", "alerts", ["watch", "status"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("watch", sa.String(128), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("at_ts", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_events_alert", "alert_events", ["alert_id"])
    op.create_table(
        "source_cursors",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "event_id", sa.Integer, sa.ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_ts", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_ts", sa.Float, nullable=False),
        sa.Column("sent_ts", sa.Float),
        sa.UniqueConstraint("event_id", "channel", name="uq_outbox_event_channel"),
    )
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt_ts"])
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("watch", sa.String(128), nullable=False),
        sa.Column("starts_ts", sa.Float, nullable=False),
        sa.Column("ends_ts", sa.Float, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_by", sa.String(128)),
        sa.Column("created_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("watch", sa.String(128), nullable=False),
        sa.Column("at_ts", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("created_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ts", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256)),
        sa.Column("data", sa.Text),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("expires_ts", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "leases",
        "audit_log",
        "responses",
        "silences",
        "outbox",
        "source_cursors",
        "alert_events",
        "alerts",
        "classifications",
    ):
        op.drop_table(table)
    op.drop_index("ix_posts_created_ts", "posts")
    op.drop_table("posts")
