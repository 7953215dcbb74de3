"""The operational store: SQLAlchemy 2 tables, engines and Alembic migrations."""

from retentio.store.engine import (
    DEFAULT_DATABASE_URL,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)
from retentio.store.tables import Base

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Base",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "upgrade",
]
