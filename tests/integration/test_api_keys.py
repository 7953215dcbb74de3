"""API keys on SQLite and PostgreSQL: shown once, stored hashed, scoped, revocable, audited."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from retentio.access import Scope, create_api_key, list_api_keys, revoke_api_key, verify_api_key
from retentio.cli import app
from retentio.core.errors import ConfigurationError
from retentio.store import make_engine
from retentio.store.tables import ApiKey, AuditEntry


def test_a_key_is_stored_as_prefix_and_hash_and_verifies(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        created = create_api_key(session, name="shop sync", scope="write", actor="test")
        token = created.token
        assert token.startswith(f"rk_{created.info.prefix}_")
        assert len(token.split("_", 2)[2]) >= 43  # 32 random bytes, base64url
        row = session.scalars(select(ApiKey)).one()
        assert row.secret_sha256 == hashlib.sha256(token.encode()).hexdigest()
        stored = " ".join(str(v) for v in session.execute(text("SELECT * FROM api_keys")).one())
        assert token.split("_", 2)[2] not in stored  # the secret itself is nowhere
        found = verify_api_key(session, token)
        assert found is not None and found.scope is Scope.WRITE and found.last_used_at
        assert verify_api_key(session, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert verify_api_key(session, f"rk_{'0' * 12}_{token.split('_', 2)[2]}") is None
        assert verify_api_key(session, "Bearer nonsense") is None


def test_revoked_keys_stop_working_and_everything_is_audited(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        created = create_api_key(session, name="old", scope="read", actor="test")
        revoke_api_key(session, created.info.prefix, actor="test")
        assert verify_api_key(session, created.token) is None
        assert list_api_keys(session)[0].revoked_at is not None
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["api_key.create", "api_key.revoke"]
        with pytest.raises(ConfigurationError, match="no API key"):
            revoke_api_key(session, "nope", actor="test")
        with pytest.raises(ConfigurationError, match="scope"):
            create_api_key(session, name="x", scope="root", actor="test")
        with pytest.raises(ConfigurationError, match="name"):
            create_api_key(session, name="  ", scope="read", actor="test")


def test_cli_prints_the_key_once_and_lists_without_secrets(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    refused = runner.invoke(app, ["apikey", "list", "--database-url", database_url])
    assert isinstance(refused.exception, ConfigurationError)  # not initialised yet
    assert runner.invoke(app, ["init", "--database-url", database_url]).exit_code == 0
    args = ["apikey", "create", "--name", "shopify", "--scope", "admin"]
    created = runner.invoke(app, [*args, "--database-url", database_url])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("rk_")
    listed = runner.invoke(app, ["apikey", "list", "--database-url", database_url])
    assert listed.exit_code == 0 and "shopify" in listed.stdout and "admin" in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout
    prefix = token.split("_")[1]
    revoked = runner.invoke(app, ["apikey", "revoke", prefix, "--database-url", database_url])
    assert revoked.exit_code == 0, revoked.output
    engine = make_engine(database_url)
    with Session(engine) as session:
        assert verify_api_key(session, token) is None
    engine.dispose()
