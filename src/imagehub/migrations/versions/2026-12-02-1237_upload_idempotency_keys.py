"""upload idempotency keys

Revision ID: 965e825fb579
Revises: 7f9428b48ce4
Created: 2026-12-02 12:37:10.597859
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imagehub.core.db

revision: str = "965e825fb579"
down_revision: str | None = "7f9428b48ce4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upload_keys",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_upload_keys_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_upload_keys_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("owner_id", "key", name=op.f("pk_upload_keys")),
    )
    with op.batch_alter_table("upload_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upload_keys_task_id"), ["task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("upload_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_keys_task_id"))

    op.drop_table("upload_keys")
