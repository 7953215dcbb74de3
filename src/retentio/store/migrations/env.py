"""Alembic environment: runs the migrations on the engine retentio passes in."""

from __future__ import annotations

from alembic import context

from retentio.store.tables import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
