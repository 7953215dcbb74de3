"""The composition root: one Settings object read from the environment, and what it builds.

Only entry points (the CLI, later the API server and the worker) read settings; library code
takes arguments.
"""

from __future__ import annotations

from functools import cached_property

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

from retentio.store import DEFAULT_DATABASE_URL, make_engine

__all__ = ["Settings"]


class Settings(BaseSettings):
    """retentio's settings: environment variables ``RETENTIO_*`` (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="RETENTIO_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///path.db (the default, in the working directory) or "
        "postgresql://user:password@host:5432/db",
    )

    @cached_property
    def engine(self) -> Engine:
        """The store's engine, built on first use."""
        return make_engine(self.database_url)
