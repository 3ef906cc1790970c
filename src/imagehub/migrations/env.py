"""Alembic environment: runs on SQLite and PostgreSQL through the sync drivers."""

from alembic import context
from sqlalchemy import Connection

from imagehub.db import Base, create_sync_engine
from imagehub.models import import_all_models

import_all_models()
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
    engine = create_sync_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as new_connection:
        run_with(new_connection)
    engine.dispose()
