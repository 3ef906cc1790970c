"""processing tasks and images

Revision ID: 2cd5d96eac32
Revises: 9490a46ededa
Created: 2026-11-23 12:22:24.776054
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imagehub.core.db

revision: str = "2cd5d96eac32"
down_revision: str | None = "9490a46ededa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("created_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_tasks_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_tasks_status_updated_at", ["status", "updated_at"], unique=False)

    op.create_table(
        "image_task",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("img_link", sa.String(length=300), nullable=False),
        sa.Column("created_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_image_task_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_task")),
        sa.UniqueConstraint("task_id", "img_link", name=op.f("uq_image_task_task_id_img_link")),
    )
    with op.batch_alter_table("image_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_task_task_id"), ["task_id"], unique=False)

    op.create_table(
        "task_images",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("stem", sa.String(length=255), nullable=False),
        sa.Column("extension", sa.String(length=8), nullable=False),
        sa.Column("image_format", sa.String(length=8), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_task_images_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_images_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_images")),
        sa.UniqueConstraint("task_id", "position", name=op.f("uq_task_images_task_id_position")),
    )
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_images_owner_created", ["owner_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_task_images_task_id"), ["task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_images_task_id"))
        batch_op.drop_index("ix_task_images_owner_created")

    op.drop_table("task_images")
    with op.batch_alter_table("image_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_task_task_id"))

    op.drop_table("image_task")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_status_updated_at")
        batch_op.drop_index(batch_op.f("ix_tasks_owner_id"))

    op.drop_table("tasks")
