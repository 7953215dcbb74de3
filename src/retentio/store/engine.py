"""Engines for the embedded SQLite file and for PostgreSQL (psycopg 3), and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from retentio.core.errors import ConfigurationError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "normalise_url",
    "upgrade",
]

#: The embedded default: a SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///retentio.db"
_MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """``url`` with PostgreSQL pointed at psycopg 3; a ConfigurationError for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"database URL {url!r} is not a URL; use sqlite:///path.db or postgresql://user@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ConfigurationError(
        f"database URL {parsed.render_as_string()!r}: only SQLite and PostgreSQL are supported"
    )


def make_engine(
    url: str = DEFAULT_DATABASE_URL, *, relaxed_commits: bool = False, **kwargs: Any
) -> Engine:
    """An engine for ``url``; SQLite connections get WAL, foreign keys and a busy timeout.

    ``relaxed_commits`` (the delivery worker's engine) makes PostgreSQL commit without waiting
    for the WAL to reach the disk (``synchronous_commit = off``): a commit then costs one
    round trip instead of a flush, so a worker records hundreds of outcomes a second. If the
    database server crashes (a restart flushes first), the outcomes of its last fraction of a
    second are lost, and those messages are sent again with their Message-ID, for receivers
    to drop; no message can be lost, because queued rows are written durably at the launch.
    SQLite's WAL with ``synchronous = NORMAL`` makes the same trade already.
    """
    target = normalise_url(url)
    if make_url(target).get_backend_name() == "sqlite":
        engine = create_engine(target, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20, **kwargs}
    if relaxed_commits:
        connect = dict(options.get("connect_args", {}))
        connect["options"] = f"{connect.get('options', '')} -c synchronous_commit=off".strip()
        options["connect_args"] = connect
    return create_engine(target, **options)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB (the default 2 MiB thrashes indexes)
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default); a no-op when it is there."""
    command.upgrade(_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database back to ``revision`` (``base`` empties it)."""
    command.downgrade(_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The database's migration revision, None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest migration revision this retentio ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise ConfigurationError("retentio ships no migrations")
    return head
