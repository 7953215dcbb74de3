"""Databases for the integration tests: a SQLite file and a fresh PostgreSQL database.

PostgreSQL is the one at 127.0.0.1:5432 (user postgres, trust auth) or RETENTIO_TEST_POSTGRES_URL.
With CI=true it must be there; on a laptop without it the PostgreSQL cases skip, saying why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine

from retentio.store import make_engine, upgrade

POSTGRES_URL = os.environ.get(
    "RETENTIO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required when CI=true: {POSTGRES_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({exc}); set RETENTIO_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'retentio.db'}"
        return
    name = f"retentio_test_{secrets.token_hex(6)}"
    with _postgres_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _postgres_admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture()
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the empty database, disposed afterwards."""
    made = make_engine(database_url)
    yield made
    made.dispose()


@pytest.fixture()
def migrated_engine(engine: Engine) -> Engine:
    """The engine of a database migrated to the newest revision."""
    upgrade(engine)
    return engine
