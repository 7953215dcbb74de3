"""The operational store: SQLAlchemy 2 tables, engines and Alembic migrations."""

# The campaign and outbox tables join Base.metadata (the migrations compare against it).
from retentio.store import campaign_tables as _campaign_tables  # noqa: F401
from retentio.store import channel_tables as _channel_tables  # noqa: F401
from retentio.store import feedback_tables as _feedback_tables  # noqa: F401
from retentio.store import loyalty_tables as _loyalty_tables  # noqa: F401
from retentio.store import subscription_tables as _subscription_tables  # noqa: F401
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
