"""Alembic environment: runs on the connection mailgate hands over."""

from alembic import context

from mailgate.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through `mailgate init` (mailgate.store.db.migrate)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
