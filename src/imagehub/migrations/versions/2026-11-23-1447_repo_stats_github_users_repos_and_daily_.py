"""repo stats: github users, repos and daily stats

Revision ID: 6427e2eb8a5d
Revises: a84226936d00
Created: 2026-11-23 14:47:42.838866
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import imagehub.core.db

revision: str = "6427e2eb8a5d"
down_revision: str | None = "a84226936d00"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "github_users",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("tracked_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scanned_on", sa.Date(), nullable=True),
        sa.Column("scan_error", sa.String(length=500), nullable=True),
        sa.Column("scan_claimed_at", imagehub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_github_users")),
    )
    with op.batch_alter_table("github_users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_github_users_scanned_on"), ["scanned_on"], unique=False
        )

    op.create_table(
        "repos",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("full_name", sa.String(length=256), nullable=False),
        sa.Column("etag", sa.String(length=256), nullable=True),
        sa.Column("stargazers", sa.Integer(), nullable=False),
        sa.Column("forks", sa.Integer(), nullable=False),
        sa.Column("watchers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["github_users.id"],
            name=op.f("fk_repos_user_id_github_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos")),
    )
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repos_user_id"), ["user_id"], unique=False)

    op.create_table(
        "stats",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("repo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("stargazers", sa.Integer(), nullable=False),
        sa.Column("forks", sa.Integer(), nullable=False),
        sa.Column("watchers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_stats_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats")),
        sa.UniqueConstraint("repo_id", "date", name=op.f("uq_stats_repo_id_date")),
    )


def downgrade() -> None:
    op.drop_table("stats")
    with op.batch_alter_table("repos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repos_user_id"))

    op.drop_table("repos")
    with op.batch_alter_table("github_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_github_users_scanned_on"))

    op.drop_table("github_users")
