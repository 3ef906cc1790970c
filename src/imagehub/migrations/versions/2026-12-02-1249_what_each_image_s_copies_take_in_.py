"""what each image's copies take in storage, for quotas

Revision ID: f8b87ec41f17
Revises: 965e825fb579
Created: 2026-12-02 12:49:46.865471
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f8b87ec41f17"
down_revision: str | None = "965e825fb579"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("variants_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.drop_column("variants_bytes")
