"""index tasks by when they finished, for retention

Revision ID: 7f9428b48ce4
Revises: 702dff2ea3b1
Created: 2026-12-02 12:31:31.497462
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7f9428b48ce4"
down_revision: str | None = "702dff2ea3b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_finished_at"), ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_finished_at"))
