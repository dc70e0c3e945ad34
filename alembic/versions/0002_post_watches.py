"""post_watches: which watches a post belongs to, decided once (it matches the query, or it
reposts, through its chain, a post that does; or its author is one of the watch's own
accounts), so that every view counts the same posts. The rows of a store from before this
migration are filled at the next start, when the daemon (or a command that reads a watch's
posts) finds no decision recorded for a watch's rule (sentinel.store.watches.use_watches).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "post_watches",
        sa.Column("post_pk", sa.Integer, sa.ForeignKey("posts.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("watch", sa.String(128), primary_key=True),
        sa.Column("via", sa.String(16), nullable=False),
    )
    op.create_index("ix_post_watches_watch", "post_watches", ["watch", "post_pk"])
    # a post stored after its reposts finds them through this (they join its watches then)
    op.create_index("ix_posts_repost_of", "posts", ["platform", "repost_of"])
    # the rule (query and accounts) each watch's rows were decided with
    op.create_table(
        "watch_rules",
        sa.Column("watch", sa.String(128), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("decided_ts", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("watch_rules")
    op.drop_index("ix_posts_repost_of", table_name="posts")
    op.drop_index("ix_post_watches_watch", table_name="post_watches")
    op.drop_table("post_watches")
