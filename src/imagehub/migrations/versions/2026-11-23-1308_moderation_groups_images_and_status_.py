"""moderation groups images and status changes

Revision ID: 23ae9bd1bbf2
Revises: 2cd5d96eac32
Created: 2026-11-23 13:08:32.769205
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imagehub.core.db

revision: str = "23ae9bd1bbf2"
down_revision: str | None = "2cd5d96eac32"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_groups_name")),
    )
    op.create_table(
        "images",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('new', 'review', 'accepted', 'deleted')", name=op.f("ck_images_status")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_images_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("group_id", "url", name=op.f("uq_images_group_id_url")),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index("ix_images_changed_status", ["changed_at", "status"], unique=False)
        batch_op.create_index("ix_images_created_status", ["created_at", "status"], unique=False)
        batch_op.create_index(
            "ix_images_group_changed", ["group_id", "changed_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_images_group_created", ["group_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_images_group_status_changed", ["group_id", "status", "changed_at"], unique=False
        )

    op.create_table(
        "image_status_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("image_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.Uuid(), nullable=True),
        sa.Column("changed_by_email", sa.String(length=320), nullable=True),
        sa.Column("changed_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["users.id"],
            name=op.f("fk_image_status_changes_changed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_status_changes_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_status_changes")),
    )
    with op.batch_alter_table("image_status_changes", schema=None) as batch_op:
        batch_op.create_index("ix_image_status_changes_image", ["image_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("image_status_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_image_status_changes_image")

    op.drop_table("image_status_changes")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_group_status_changed")
        batch_op.drop_index("ix_images_group_created")
        batch_op.drop_index("ix_images_group_changed")
        batch_op.drop_index("ix_images_created_status")
        batch_op.drop_index("ix_images_changed_status")

    op.drop_table("images")
    op.drop_table("groups")
