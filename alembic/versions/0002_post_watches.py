"""post_watches: which watches a post belongs to, decided once (it matches the query, or it
reposts, through its chain, a post that does), so that every view counts the same posts

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


def downgrade() -> None:
    op.drop_index("ix_post_watches_watch", table_name="post_watches")
    op.drop_table("post_watches")
