"""uploads know their moderation image

Revision ID: 7a2c4d9e1b53
Revises: 5e1f0a7b3c21
Created: 2026-12-02 03:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a2c4d9e1b53"
down_revision: str | None = "5e1f0a7b3c21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty for uploads sent to moderation before: their decisions do not reach the owner.
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moderation_image_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.drop_column("moderation_image_id")
