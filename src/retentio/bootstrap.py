"""The composition root: one Settings object, read from the environment at the edges.

Only entry points (the CLI, later the API server and the worker) read settings; library code
takes arguments.
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retentio.core.errors import ConfigurationError
from retentio.store import DEFAULT_DATABASE_URL

_PLACEHOLDER = re.compile(r"change.?me|secret|password|example|placeholder|xxxx", re.IGNORECASE)

__all__ = ["Settings"]


class Settings(BaseSettings):
    """retentio's settings: environment variables ``RETENTIO_*`` (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="RETENTIO_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///path.db (the default, in the working directory) or "
        "postgresql://user:password@host:5432/db",
    )

    secret_key: SecretStr | None = Field(
        default=None,
        description="32+ random characters that key the suppression list's HMACs and signed "
        "links; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
    )

    @field_validator("secret_key")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        if len(text) < 32 or len(set(text)) < 8 or _PLACEHOLDER.search(text):
            raise ValueError(
                "RETENTIO_SECRET_KEY must be at least 32 random characters, not a placeholder"
            )
        return value

    def require_secret(self) -> bytes:
        """The secret key as bytes; a ConfigurationError saying how to set it when missing."""
        if self.secret_key is None:
            raise ConfigurationError(
                "RETENTIO_SECRET_KEY is not set; generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self.secret_key.get_secret_value().encode("utf-8")
