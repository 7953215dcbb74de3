"""`retentio init` and `retentio db upgrade|status`: create and migrate the operational store."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import getpass
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from retentio.bootstrap import Settings
from retentio.cli.app import app, err, out
from retentio.core.errors import ConfigurationError
from retentio.privacy import DEFAULT_TEXT_VERSION, publish_default_texts
from retentio.store import current_revision, head_revision, make_engine, upgrade

__all__ = ["DatabaseUrl", "db_app", "store_session"]

db_app = typer.Typer(help="Create and migrate the operational database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path.db or postgresql://user@host/db (default: RETENTIO_DATABASE_URL, "
        "else sqlite:///retentio.db in the working directory).",
    ),
]


def _url(given: str | None) -> str:
    return given if given is not None else Settings().database_url


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def store_session(database_url: str | None) -> Iterator[Session]:
    """A session on the store, which must be migrated to this retentio's version."""
    url = _url(database_url)
    engine = make_engine(url)
    try:
        current = current_revision(engine)
        if current != head_revision():
            raise ConfigurationError(
                f"the database {_shown(url)} is at revision {current or '(empty)'}: "
                "run `retentio init` (or `retentio db upgrade`) first"
            )
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _migrate(url: str) -> tuple[str | None, str | None]:
    """Migrate the database at ``url`` to the newest revision: its revisions before and after."""
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        return before, current_revision(engine)
    finally:
        engine.dispose()


@db_app.command("upgrade")
def upgrade_command(database_url: DatabaseUrl = None) -> None:
    """Create the database's tables or migrate them to this retentio's version."""
    url = _url(database_url)
    before, after = _migrate(url)
    if before == after:
        out.print(f"{_shown(url)} is up to date (revision {after}).")
    else:
        out.print(f"Migrated {_shown(url)} from revision {before or '(empty)'} to {after}.")


@db_app.command("status")
def status_command(database_url: DatabaseUrl = None) -> None:
    """Show the database's migration revision and whether it is up to date."""
    url = _url(database_url)
    engine = make_engine(url)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    state = "up to date" if current == head else "needs `retentio db upgrade`"
    out.print(f"{_shown(url)}: revision {current or '(empty)'}, newest {head}: {state}.")


def _write_secret(path: Path) -> bool:
    """Add a new RETENTIO_SECRET_KEY to ``path`` (made readable by its owner only)."""
    line = f"RETENTIO_SECRET_KEY={secrets.token_urlsafe(48)}\n"
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if "RETENTIO_SECRET_KEY" in existing:
        return False
    separator = "" if not existing or existing.endswith("\n") else "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        handle.write(separator + line)
    return True


@app.command("init")
def init_command(
    database_url: DatabaseUrl = None,
    secret_file: Annotated[
        bool,
        typer.Option(
            help="When no RETENTIO_SECRET_KEY is set, generate one into ./.env "
            "(it keys the suppression list and signed links: keep it, and back it up)."
        ),
    ] = True,
) -> None:
    """Create the operational database (the embedded SQLite file by default) and its tables."""
    url = _url(database_url)
    _, after = _migrate(url)
    with store_session(url) as session:
        texts = publish_default_texts(session, actor=f"cli:{getpass.getuser()}")
    languages = ", ".join(sorted({t.language for t in texts}))
    err.print(
        f"The database {_shown(url)} is ready (revision {after}); "
        f"the default consent texts ({DEFAULT_TEXT_VERSION}: {languages}) are published."
    )
    if secret_file and Settings().secret_key is None and _write_secret(Path(".env")):
        err.print("Generated RETENTIO_SECRET_KEY into .env (readable by you only).")
