"""Write transactions on the store."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session

__all__ = ["begin_write"]


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
