"""The programme in force (its newest saved version) and a member's history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retentio.loyalty.programme import Programme, parse_programme
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry, LoyaltyProgramme

__all__ = ["configure_programme", "current_programme", "member_history"]


def current_programme(session: Session) -> Programme:
    """The newest saved programme; the defaults when none is saved."""
    row = session.scalars(
        select(LoyaltyProgramme).order_by(LoyaltyProgramme.version.desc()).limit(1)
    ).one_or_none()
    return parse_programme(row.definition) if row is not None else Programme()


def configure_programme(session: Session, data: Any, *, actor: str) -> int:
    """Check ``data`` and save it as the next version (committed); returns the version."""
    parse_programme(data)
    latest = session.scalar(select(func.max(LoyaltyProgramme.version))) or 0
    session.add(LoyaltyProgramme(version=latest + 1, definition=dict(data), created_by=actor))
    session.commit()
    return latest + 1


def member_history(session: Session, customer: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The member's newest entries first."""
    row = customer_by_external_id(session, customer)
    if row is None or row.erased_at is not None:
        raise NotFoundError(f"no customer with external_id {customer!r}")
    e = LoyaltyEntry
    query = (
        select(e)
        .join(LoyaltyAccount, LoyaltyAccount.id == e.account_id)
        .where(LoyaltyAccount.customer_id == row.id)
        .order_by(e.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": entry.id,
            "kind": entry.kind,
            "points": entry.points,
            "pending_points": entry.pending_points,
            "order_id": entry.order_id,
            "releases_at": entry.releases_at,
            "occurred_at": entry.occurred_at,
            "note": entry.note,
        }
        for entry in session.scalars(query)
    ]
