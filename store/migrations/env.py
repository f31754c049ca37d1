"""Alembic environment: runs as the owner role with the URL the caller passes in."""

from alembic import context
from sqlalchemy import create_engine, pool

import store.models

config = context.config
target_metadata = store.models.metadata


def run_migrations_online() -> None:
    url = config.attributes.get("url")
    if url is None:
        raise RuntimeError("run migrations through store.database.migrate(), which passes the URL")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
