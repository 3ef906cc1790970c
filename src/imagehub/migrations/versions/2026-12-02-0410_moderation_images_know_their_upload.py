"""moderation images know their upload

Revision ID: 9d3e5f7a2c64
Revises: 7a2c4d9e1b53
Created: 2026-12-02 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d3e5f7a2c64"
down_revision: str | None = "7a2c4d9e1b53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("name", "uploaded_by", "width", "height", "size_bytes")


def upgrade() -> None:
    # Empty for images registered by URL, and for uploads queued before.
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("uploaded_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("height", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("size_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
