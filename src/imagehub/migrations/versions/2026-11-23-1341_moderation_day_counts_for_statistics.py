"""moderation day counts for statistics

Revision ID: a84226936d00
Revises: 23ae9bd1bbf2
Created: 2026-11-23 13:41:50.613313
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a84226936d00"
down_revision: str | None = "23ae9bd1bbf2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_day_counts",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "day", "status", name=op.f("pk_image_day_counts")),
    )
    # Count the images already there (written out here, not imported: a migration must
    # keep meaning what it meant when it was written).
    postgres = op.get_bind().dialect.name == "postgresql"
    for column, kind in (("created_at", "created"), ("changed_at", "changed")):
        day = f"CAST(timezone('UTC', {column}) AS date)" if postgres else f"date({column})"
        op.execute(
            "INSERT INTO image_day_counts (kind, day, status, count) "
            f"SELECT '{kind}', {day}, status, count(*) FROM images GROUP BY {day}, status"
        )


def downgrade() -> None:
    op.drop_table("image_day_counts")
