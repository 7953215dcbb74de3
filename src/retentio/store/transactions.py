"""Write transactions on the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

__all__ = ["RETRYABLE_STATES", "begin_write", "retrying"]

T = TypeVar("T")
#: PostgreSQL's serialization failure and deadlock: the transaction may simply run again.
RETRYABLE_STATES = frozenset({"40001", "40P01"})


def begin_write(session: Session) -> Connection:
    """The session's connection, in a write transaction from the first statement.

    SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock before anything is read, so a
    read-then-write is atomic and concurrent writers queue (busy timeout) instead of failing
    when their snapshot goes stale. PostgreSQL needs nothing here: callers lock rows with
    ``SELECT ... FOR UPDATE`` or rely on unique keys.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if driver is not None and not driver.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    return connection


def retrying(session: Session, work: Callable[[], T], attempts: int = 5) -> T:
    """Run ``work`` (which commits itself, and is safe to repeat: keyed writes) again when
    PostgreSQL broke a deadlock or a serialization conflict by aborting it (TRUST.md:
    "retry on 40001/40P01"); rolled back in between, other errors raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except OperationalError as exc:
            session.rollback()
            if attempt == attempts or getattr(exc.orig, "sqlstate", None) not in RETRYABLE_STATES:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
