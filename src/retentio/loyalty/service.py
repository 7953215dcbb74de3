"""The programme in force (its newest saved version), its versions, and a member's profile."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.core.errors import ConfigurationError
from retentio.loyalty.accounts import account_of, customer_row
from retentio.loyalty.programme import Programme, parse_programme
from retentio.loyalty.tiering import tier_status
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry, LoyaltyProgramme

__all__ = [
    "configure_programme",
    "current_programme",
    "member_history",
    "member_profile",
    "programme_versions",
    "saved_programme",
]


def saved_programme(session: Session) -> tuple[int, dict[str, Any]] | None:
    """The newest saved version and its definition, or None when none is saved."""
    row = session.scalars(
        select(LoyaltyProgramme).order_by(LoyaltyProgramme.version.desc()).limit(1)
    ).one_or_none()
    return None if row is None else (row.version, dict(row.definition))


def current_programme(session: Session) -> Programme:
    """The newest saved programme; the defaults when none is saved."""
    saved = saved_programme(session)
    return parse_programme(saved[1]) if saved is not None else Programme()


def configure_programme(session: Session, data: Any, *, actor: str) -> int:
    """Check ``data`` and save it as the next version (committed); returns the version."""
    parse_programme(data)
    for _attempt in range(5):  # two saves at once: the second takes the next number
        latest = session.scalar(select(func.max(LoyaltyProgramme.version))) or 0
        session.add(LoyaltyProgramme(version=latest + 1, definition=dict(data), created_by=actor))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return latest + 1
    raise ConfigurationError("the programme is being saved by others; try again")


def programme_versions(session: Session) -> list[dict[str, Any]]:
    """Every saved version, newest first: version, when and by whom."""
    p = LoyaltyProgramme
    rows = session.execute(select(p.version, p.created_at, p.created_by).order_by(p.version.desc()))
    return [{"version": v, "created_at": at, "created_by": by} for v, at, by in rows]


def member_history(session: Session, customer: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The member's newest entries first."""
    row = customer_row(session, customer)
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
            "rule": entry.rule,
            "order_id": entry.order_id,
            "releases_at": entry.releases_at,
            "expires_at": entry.expires_at,
            "occurred_at": entry.occurred_at,
            "note": entry.note,
        }
        for entry in session.scalars(query)
    ]


def member_profile(
    session: Session, programme: Programme, customer: str, *, now: datetime, history: int = 50
) -> dict[str, Any]:
    """Balances, tier and progress to the next, points expiring soon, the referral code and
    link, and the latest entries (a customer without points yet gets zeros)."""
    row, account = account_of(session, customer)
    status = tier_status(session, programme, account, now)
    code = None if account is None else account.referral_code
    rules = programme.referrals
    return {
        "customer": row.external_id,
        "available": 0 if account is None else account.available,
        "pending": 0 if account is None else account.pending,
        "earned": 0 if account is None else account.earned,
        "tier": None if status is None else status.to_dict(programme),
        "expiring": {
            "points": 0 if account is None else account.expiring_points,
            "at": None if account is None else account.expiring_at,
        },
        "referral": {
            "code": code,
            "link": None if code is None or rules is None else rules.link_for(code),
        },
        "history": member_history(session, customer, limit=history),
    }
