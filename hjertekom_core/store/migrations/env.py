"""Alembic environment: migrations run on the connection the store hands over (see store.engine)."""
from __future__ import annotations

from alembic import context

from hjertekom_core.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - we always pass a connection
    raise RuntimeError("run migrations through hjertekom_core.store (hjertekom init), not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds for ALTER
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
