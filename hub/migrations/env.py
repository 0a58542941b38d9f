"""Alembic environment: runs on the connection hub.db.upgrade() hands over."""

from alembic import context

from hub.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `masar hub migrate` (hub.db.upgrade)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
