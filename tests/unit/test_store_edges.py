"""API key scopes, database URLs and Settings: the parts of the store's edge without I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retentio.access import Scope
from retentio.bootstrap import Settings
from retentio.core.errors import ConfigurationError
from retentio.store.engine import normalise_url


def test_scopes_nest() -> None:
    assert Scope.ADMIN.allows(Scope.WRITE) and Scope.WRITE.allows(Scope.READ)
    assert not Scope.READ.allows(Scope.WRITE) and not Scope.WRITE.allows(Scope.ADMIN)


def test_database_urls_are_checked() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ConfigurationError, match="only SQLite and PostgreSQL"):
        normalise_url("mysql://u@h/db")
    with pytest.raises(ConfigurationError, match="not a URL"):
        normalise_url("not a url")


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTIO_DATABASE_URL", "sqlite:///from-env.db")
    assert Settings().database_url == "sqlite:///from-env.db"
    monkeypatch.delenv("RETENTIO_DATABASE_URL")
    assert Settings(_env_file=None).database_url == "sqlite:///retentio.db"


def test_settings_refuse_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("changeme", "x" * 40, "my-secret-key-my-secret-key-my-secret-key"):
        monkeypatch.setenv("RETENTIO_SECRET_KEY", bad)
        with pytest.raises(ValidationError, match="RETENTIO_SECRET_KEY"):
            Settings(_env_file=None)
    good = "Zq8-vN3kLr0pX2w9TbYh7sJc4mDe6uFa1gQiKo5"
    monkeypatch.setenv("RETENTIO_SECRET_KEY", good)
    settings = Settings(_env_file=None)
    assert settings.require_secret() == good.encode()
    assert good not in repr(settings)  # never printed
    monkeypatch.delenv("RETENTIO_SECRET_KEY")
    with pytest.raises(ConfigurationError, match="RETENTIO_SECRET_KEY is not set"):
        Settings(_env_file=None).require_secret()
