"""Databases for the integration tests: a SQLite file and a fresh PostgreSQL database.

PostgreSQL is the one at 127.0.0.1:5432 (user postgres, trust auth) or RETENTIO_TEST_POSTGRES_URL.
With CI=true it must be there; on a laptop without it the PostgreSQL cases skip, saying why.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from psycopg import sql
from smtp_helpers import Sink, free_port
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retentio.access import Scope, create_api_key
from retentio.core.signing import Signer, derive_key
from retentio.store import make_engine, upgrade

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from retentio.api import ApiConfig

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


@pytest.fixture()
def secret() -> bytes:
    """A server secret (suppression HMACs, signed links)."""
    return secrets.token_bytes(32)


@pytest.fixture()
def api_config(migrated_engine: Engine, database_url: str, secret: bytes) -> ApiConfig:
    """The API's configuration on the migrated test database."""
    from retentio.api import ApiConfig  # the web stack only for the tests that need it

    signer = Signer({"test": derive_key(secret, "links")}, "test")
    return ApiConfig(database_url=database_url, secret=secret, signer=signer)


@pytest.fixture()
def api_keys(migrated_engine: Engine) -> dict[str, str]:
    """One API key per scope: {"read": token, "write": token, "admin": token}."""
    with Session(migrated_engine) as session:
        return {
            scope.value: create_api_key(
                session, name=f"test {scope.value}", scope=scope.value, actor="test"
            ).token
            for scope in Scope
        }


@pytest.fixture()
def client(api_config: ApiConfig) -> Iterator[TestClient]:
    """An in-process client of the API."""
    from starlette.testclient import TestClient

    from retentio.api import create_app

    with TestClient(create_app(api_config), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def live_server(api_config: ApiConfig) -> Iterator[str]:
    """The API served by uvicorn on a free loopback port (for concurrent requests): its URL."""
    from retentio.api import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(api_config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the API server did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def sink() -> Iterator[tuple[Sink, int]]:
    """A running SMTP server on a free port: (its handler, the port)."""
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
