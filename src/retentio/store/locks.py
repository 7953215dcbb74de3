"""One writer at a time on a SQLite store, across the threads and processes of a server.

SQLite lets one connection write at a time; a second writer polls with SQLite's busy handler,
which sleeps between tries (up to 100 ms), so a queue of writers wastes time asleep. Writers
in a server hold a :class:`WriterLock` around each write transaction instead: a thread lock,
then an exclusive ``flock`` on a lock file beside the database (``<database>.writer``), which
the next writer in any process gets the moment it is released. PostgreSQL locks rows itself
and needs none (:func:`writer_lock` gives a no-op there).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock alone (one server process)
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterLock", "writer_lock"]

#: Appended to the database file's name for the lock file.
SUFFIX = ".writer"


class WriterLock:
    """A lock for writers to one SQLite file: threads of this process, and other processes
    (when ``path`` is given and the platform has ``flock``)."""

    def __init__(self, path: Path | None) -> None:
        self._thread = threading.Lock()
        self._fd: int | None = None
        if path is not None and fcntl is not None:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> WriterLock:
        self._thread.acquire()
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread.release()
                raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def close(self) -> None:
        """Close the lock file (the lock must not be held)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _NoLock(contextlib.nullcontext[None]):
    """PostgreSQL's writer lock: none (it locks rows itself)."""

    def close(self) -> None:
        """Nothing to close."""


def writer_lock(engine: Engine) -> WriterLock | _NoLock:
    """The lock writers to ``engine``'s database hold: a :class:`WriterLock` on SQLite (on its
    file's lock file; a thread lock alone for an in-memory database), else a no-op. Either is
    closed with ``close()`` when the server stops."""
    if engine.dialect.name != "sqlite":
        return _NoLock()
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return WriterLock(None)
    return WriterLock(Path(database).with_name(Path(database).name + SUFFIX))
