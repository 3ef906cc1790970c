"""github scans resume and keep list pages

Revision ID: 702dff2ea3b1
Revises: 9d3e5f7a2c64
Created: 2026-12-02 06:10:31.519057
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imagehub.core.db

revision: str = "702dff2ea3b1"
down_revision: str | None = "9d3e5f7a2c64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # REST list pages with their ETags; a scan under way (when it began, GraphQL's cursor);
    # when each repository was read; no watcher figure where none was read.
    op.create_table(
        "github_list_pages",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("etag", sa.String(length=256), nullable=True),
        sa.Column("next_url", sa.String(length=2048), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["github_users.id"],
            name=op.f("fk_github_list_pages_user_id_github_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "number", name=op.f("pk_github_list_pages")),
    )
    with op.batch_alter_table("github_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="User", nullable=False)
        )
        batch_op.add_column(
            sa.Column("scan_started_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("scan_cursor", sa.String(length=256), nullable=True))
        batch_op.alter_column("node_id", existing_type=sa.VARCHAR(length=128), nullable=True)

    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("read_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.alter_column("watchers", existing_type=sa.INTEGER(), nullable=True)

    with op.batch_alter_table("stats", schema=None) as batch_op:
        batch_op.alter_column("watchers", existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    # The old schema has no room for a missing figure: those rows go (repositories keep
    # the old default).
    op.execute("DELETE FROM stats WHERE watchers IS NULL")
    op.execute("UPDATE repos SET watchers = 0 WHERE watchers IS NULL")
    op.execute("UPDATE github_users SET node_id = '' WHERE node_id IS NULL")
    with op.batch_alter_table("stats", schema=None) as batch_op:
        batch_op.alter_column("watchers", existing_type=sa.INTEGER(), nullable=False)

    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.alter_column("watchers", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("read_at")

    with op.batch_alter_table("github_users", schema=None) as batch_op:
        batch_op.alter_column("node_id", existing_type=sa.VARCHAR(length=128), nullable=False)
        batch_op.drop_column("scan_cursor")
        batch_op.drop_column("scan_started_at")
        batch_op.drop_column("kind")

    op.drop_table("github_list_pages")
