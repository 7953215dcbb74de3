"""The audit log: who read or changed which person's data, when (append-only, no PII)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.privacy._shared import find_customer, iso, utc_now
from retentio.store.tables import AuditEntry, Customer

__all__ = ["AuditRecord", "audit_entries", "record_access"]

_MAX_LIMIT = 1000
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry; ``customer`` is the shop's id of the person it is about, if any."""

    id: int
    occurred_at: datetime
    actor: str
    action: str
    customer: str | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: id, occurred_at, actor, action, customer, details."""
        return {
            "id": self.id,
            "occurred_at": iso(self.occurred_at),
            "actor": self.actor,
            "action": self.action,
            "customer": self.customer,
            "details": self.details,
        }


def _check_no_pii(details: Mapping[str, Any]) -> None:
    for key, value in details.items():
        _check_value(key, value)


def _check_value(key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        _check_no_pii(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_value(key, item)
    elif isinstance(value, str) and _EMAIL_LIKE.search(value):
        raise DataError(f"audit details: {key!r} looks like an e-mail address; log ids only")
    elif not isinstance(value, int | float | bool | str | type(None)):
        raise DataError(f"audit details: {key!r} is not a JSON value")


def record_access(
    session: Session,
    actor: str,
    action: str,
    customer_id: int | None,
    details: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Add an audit entry to the session's transaction (the caller commits).

    ``customer_id`` is the internal id; ``details`` hold ids and counts, never PII (a value that
    looks like an e-mail address is refused).
    """
    if not actor or len(actor) > 200:
        raise DataError("audit actor must be 1 to 200 characters")
    if not action or len(action) > 40:
        raise DataError("audit action must be 1 to 40 characters")
    payload = dict(details or {})
    _check_no_pii(payload)
    session.add(
        AuditEntry(
            occurred_at=utc_now(now),
            actor=actor,
            action=action,
            customer_id=customer_id,
            details=payload,
        )
    )


def audit_entries(
    session: Session,
    *,
    customer: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Entries oldest first, filtered; page on with ``after_id`` = the last id seen.

    ``customer`` is the shop's id (a NotFoundError when unknown); ``since`` is inclusive,
    ``until`` exclusive.
    """
    if not 1 <= limit <= _MAX_LIMIT:
        raise DataError(f"limit must be 1 to {_MAX_LIMIT}")
    if any("\x00" in value for value in (actor or "", action or "")):
        return []  # PostgreSQL text cannot hold NUL: nothing matches
    query = select(AuditEntry, Customer.external_id).outerjoin(
        Customer, Customer.id == AuditEntry.customer_id
    )
    if customer is not None:
        query = query.where(AuditEntry.customer_id == find_customer(session, customer).id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.occurred_at >= utc_now(since))
    if until is not None:
        query = query.where(AuditEntry.occurred_at < utc_now(until))
    if after_id is not None:
        query = query.where(AuditEntry.id > after_id)
    rows = session.execute(query.order_by(AuditEntry.id).limit(limit)).all()
    return [
        AuditRecord(
            entry.id,
            entry.occurred_at,
            entry.actor,
            entry.action,
            external_id,
            dict(entry.details),
        )
        for entry, external_id in rows
    ]
