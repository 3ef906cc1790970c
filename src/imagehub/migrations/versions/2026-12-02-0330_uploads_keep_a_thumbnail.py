"""uploads keep a thumbnail

Revision ID: 5e1f0a7b3c21
Revises: c0d0dc457e9c
Created: 2026-12-02 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1f0a7b3c21"
down_revision: str | None = "c0d0dc457e9c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both empty for what was processed before: those images show their full size, as before.
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thumbnail", sa.String(length=300), nullable=True))
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thumbnail_url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("thumbnail_url")
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.drop_column("thumbnail")
