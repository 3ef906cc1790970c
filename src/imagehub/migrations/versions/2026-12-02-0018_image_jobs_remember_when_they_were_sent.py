"""image jobs remember when they were sent

Revision ID: c0d0dc457e9c
Revises: b7cd95dcc16f
Created: 2026-12-02 00:18:56.337903
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imagehub.core.db

revision: str = "c0d0dc457e9c"
down_revision: str | None = "b7cd95dcc16f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added empty, filled with each image's upload time (when its first job was sent), then
    # required; the stall sweep reads it instead of the task's last progress.
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("queued_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE task_images SET queued_at = created_at")
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.alter_column(
            "queued_at", existing_type=imagehub.core.db.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.create_index("ix_task_images_state_queued", ["state", "queued_at"], unique=False)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_status_updated_at"))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tasks_status_updated_at"), ["status", "updated_at"], unique=False
        )
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.drop_index("ix_task_images_state_queued")
        batch_op.drop_column("queued_at")
