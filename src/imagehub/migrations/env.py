"""Alembic environment: runs on SQLite and PostgreSQL through the sync drivers."""

from alembic import context
from sqlalchemy import Connection

# Every domain's tables, so autogenerate and the schema checks see them all.
import imagehub.accounts.models
import imagehub.health.models
import imagehub.moderation.models
import imagehub.processing.models
import imagehub.repostats.models  # noqa: F401
from imagehub.core.db import Base, create_engine

target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as new_connection:
        run_with(new_connection)
    engine.dispose()
