"""API keys: created with 256 random bits, shown once, stored as a prefix and a SHA-256.

A key reads ``rk_<prefix>_<secret>``. The prefix (public, unique) finds the row; the SHA-256 of
the whole key is compared in constant time. Scopes nest: admin can do what write can, write what
read can. Creating and revoking a key is written to the audit log.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.errors import ConfigurationError
from retentio.store.tables import ApiKey, AuditEntry

__all__ = [
    "ApiKeyInfo",
    "CreatedKey",
    "Scope",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
    "verify_api_key",
]

_PREFIX_BYTES = 6  # 12 hex characters: unique enough to find the row, public
_SECRET_BYTES = 32  # 256 bits from the operating system's CSPRNG
_USE_STAMP = timedelta(minutes=1)  # how stale last_used_at may get


class Scope(enum.StrEnum):
    """What a key may do; each scope includes the ones before it."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        """Whether a key of this scope may do what ``needed`` requires."""
        order = list(Scope)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class ApiKeyInfo:
    """A stored key without its secret."""

    id: int
    name: str
    prefix: str
    scope: Scope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreatedKey:
    """A new key: ``token`` is the only time the secret is available."""

    info: ApiKeyInfo
    token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _scope(value: str) -> Scope:
    try:
        return Scope(value)
    except ValueError:
        choices = ", ".join(s.value for s in Scope)
        raise ConfigurationError(f"scope must be one of {choices}, got {value!r}") from None


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        row.id,
        row.name,
        row.prefix,
        Scope(row.scope),
        row.created_at,
        row.last_used_at,
        row.revoked_at,
    )


def create_api_key(session: Session, *, name: str, scope: str, actor: str) -> CreatedKey:
    """Create a key (committed with its audit entry); the returned token is shown once."""
    if not name.strip() or len(name) > 200:
        raise ConfigurationError("name must be 1 to 200 characters")
    level = _scope(scope)
    prefix = secrets.token_hex(_PREFIX_BYTES)
    token = f"rk_{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    row = ApiKey(name=name.strip(), prefix=prefix, secret_sha256=_digest(token), scope=level.value)
    session.add(row)
    session.flush()
    session.add(
        AuditEntry(
            actor=actor, action="api_key.create", details={"prefix": prefix, "scope": level.value}
        )
    )
    session.commit()
    return CreatedKey(_info(row), token)


def verify_api_key(session: Session, token: str) -> ApiKeyInfo | None:
    """The key ``token`` belongs to, or None when it is unknown, wrong or revoked."""
    parts = token.split("_")
    if len(parts) < 3 or parts[0] != "rk":
        return None
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == parts[1])).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(token)):
        return None
    if row.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    last = row.last_used_at
    if last is None or now - last > _USE_STAMP:
        row.last_used_at = now  # at most once a minute: a write per request would cost
        session.commit()
    return _info(row)


def revoke_api_key(session: Session, prefix: str, *, actor: str) -> ApiKeyInfo:
    """Revoke the key with ``prefix`` (effective at once); a ConfigurationError if unknown."""
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None:
        raise ConfigurationError(f"no API key with prefix {prefix!r}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(AuditEntry(actor=actor, action="api_key.revoke", details={"prefix": prefix}))
        session.commit()
    return _info(row)


def list_api_keys(session: Session) -> list[ApiKeyInfo]:
    """Every key, oldest first, without secrets."""
    return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]
