"""github users wait for a retry time

Revision ID: b7cd95dcc16f
Revises: 6427e2eb8a5d
Created: 2026-11-23 15:26:45.926408
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imagehub.core.db

revision: str = "b7cd95dcc16f"
down_revision: str | None = "6427e2eb8a5d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("github_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scan_retry_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("github_users", schema=None) as batch_op:
        batch_op.drop_column("scan_retry_at")
