"""Helpers of the CLI tests on a store: a migrated SQLite store and one-line CLI output."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from retentio.cli import app
from retentio.store import make_engine

runner = CliRunner()
KEY = "k7Qz2VfN8pLx3RmT6wYb9HcJ4dGs1AeU5nKo0iPq"


def make_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("RETENTIO_SECRET_KEY", KEY)
    monkeypatch.setenv("RETENTIO_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    return url


def count(url: str, table: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
    finally:
        engine.dispose()


class Run:
    """A CLI run with its output on one line (Rich wraps long lines at the terminal width)."""

    def __init__(self, args: list[str]) -> None:
        self.result = runner.invoke(app, args)
        self.exit_code = self.result.exit_code
        self.exception = self.result.exception
        self.stdout = self.result.stdout
        self.output = " ".join(self.result.output.split())


def invoke(*args: str) -> Run:
    return Run(list(args))
