"""images each user uploaded each day, for the daily quota

Revision ID: 33b3715e11fa
Revises: f8b87ec41f17
Created: 2026-12-02 13:02:57.344257
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "33b3715e11fa"
down_revision: str | None = "f8b87ec41f17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upload_days",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_upload_days_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner_id", "day", name=op.f("pk_upload_days")),
    )


def downgrade() -> None:
    op.drop_table("upload_days")
