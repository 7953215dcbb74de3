"""`retentio privacy` and `retentio consent` end to end on a real SQLite file."""

from __future__ import annotations

import json
import secrets
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from retentio.cli import app
from retentio.privacy import pseudonym, validate_export
from retentio.store import make_engine
from retentio.store.tables import Customer, Event

runner = CliRunner()
KEY = secrets.token_urlsafe(48)  # a fresh server key per run


@pytest.fixture()
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite file with one customer and one event."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    monkeypatch.setenv("RETENTIO_SECRET_KEY", KEY)
    monkeypatch.setenv("RETENTIO_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    assert runner.invoke(app, ["init"]).exit_code == 0
    engine = make_engine(url)
    with Session(engine) as session:
        customer = Customer(external_id="c-42", email="ulla@example.dk", first_name="Ulla")
        session.add(customer)
        session.flush()
        when = datetime(2026, 2, 1, tzinfo=UTC)
        session.add(Event(customer_id=customer.id, name="viewed", properties={}, occurred_at=when))
        session.commit()
    engine.dispose()
    return url


def test_consent_texts_publish_and_list(database: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["consent", "publish", "--defaults"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["consent", "texts", "--language", "da"])
    assert listed.exit_code == 0, listed.output
    assert "retentio-1" in listed.stdout and "samtykke" in listed.stdout
    bad = tmp_path / "bad.txt"
    bad.write_text("Ja tak til tilbud.", encoding="utf-8")
    refused = runner.invoke(
        app, ["consent", "publish", "v2", "--language", "da", "--text-file", str(bad)]
    )
    assert refused.exit_code != 0
    assert "withdrawn at any time" in str(refused.exception)


def test_export_to_stdout_json_and_zip(database: str, tmp_path: Path) -> None:
    printed = runner.invoke(app, ["privacy", "export", "c-42"])
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.stdout)
    validate_export(document)
    assert document["customer"]["email"] == "ulla@example.dk"
    target = tmp_path / "ulla.zip"
    written = runner.invoke(app, ["privacy", "export", "c-42", "-o", str(target)])
    assert written.exit_code == 0, written.output
    assert "person.json" in zipfile.ZipFile(target).namelist()
    as_json = tmp_path / "ulla.json"
    assert runner.invoke(app, ["privacy", "export", "c-42", "-o", str(as_json)]).exit_code == 0
    assert json.loads(as_json.read_text())["customer"]["first_name"] == "Ulla"
    # personal data: readable by its owner only, and no temporary file left beside it
    assert target.stat().st_mode & 0o777 == 0o600 and as_json.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ulla")) == [
        "ulla.json",
        "ulla.zip",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    audit = runner.invoke(app, ["privacy", "audit", "--customer", "c-42"])
    assert audit.exit_code == 0, audit.output
    assert audit.stdout.count("person.export") == 3 and "cli:" in audit.stdout


def test_erase_asks_first_and_then_erases(database: str) -> None:
    declined = runner.invoke(app, ["privacy", "erase", "c-42"], input="n\n")
    assert declined.exit_code != 0
    still = runner.invoke(app, ["privacy", "export", "c-42"])
    assert json.loads(still.stdout)["customer"]["email"] == "ulla@example.dk"
    erased = runner.invoke(app, ["privacy", "erase", "c-42"], input="y\n")
    assert erased.exit_code == 0, erased.output
    hidden = pseudonym(KEY.encode(), "c-42")
    said = " ".join(erased.output.split())  # Rich wraps long lines
    assert hidden in said and "1 events deleted" in said
    after = runner.invoke(app, ["privacy", "export", hidden])
    remains = json.loads(after.stdout)
    assert remains["customer"]["email"] is None and remains["events"] == []
    audit = runner.invoke(app, ["privacy", "audit", "--customer", "c-42"])
    assert audit.exit_code == 0, audit.output
    assert "person.erase" in audit.stdout  # found by the original id after erasure
    again = runner.invoke(app, ["privacy", "erase", "c-42", "--yes"])
    assert again.exit_code == 0 and "already erased" in again.output


def test_purge_dry_run_and_real(database: str) -> None:
    dry = runner.invoke(app, ["privacy", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.stdout and "events" in dry.stdout
    real = runner.invoke(app, ["privacy", "purge"])
    assert real.exit_code == 0, real.output
    audit = runner.invoke(app, ["privacy", "audit"])
    assert "retention.purge" in audit.stdout


def test_erase_without_a_secret_says_how_to_set_it(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETENTIO_SECRET_KEY")
    result = runner.invoke(app, ["privacy", "erase", "c-42", "--yes"])
    assert result.exit_code != 0
    assert "RETENTIO_SECRET_KEY" in str(result.exception)
