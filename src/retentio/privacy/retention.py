"""Retention periods per data category, enforced by :func:`purge` (GDPR art. 5(1)(e)).

Categories and what purging them means:

- ``events``: events older than ``events_days`` are deleted.
- ``confirmations``: double opt-in tokens that expired or were used are deleted (a deleted
  token is unknown, so it still cannot be used again).
- ``idempotency_keys``: keys past their ``expires_at`` are deleted.
- ``inactive_customers``: customers with no order, event or consent change for
  ``inactive_customer_days`` and no consent currently granted are erased (erase_person's rules).
- ``audit_log``: entries older than ``audit_days`` are deleted.

A period of None keeps that category for ever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from retentio.privacy._shared import utc_now
from retentio.privacy.audit import record_access
from retentio.privacy.erasure import erase_customer_row
from retentio.store.tables import (
    AuditEntry,
    Consent,
    ConsentConfirmation,
    ConsentEvent,
    Customer,
    Event,
    IdempotencyKey,
    Order,
)

__all__ = ["PURGE_CATEGORIES", "PurgeReport", "RetentionPolicy", "purge"]

PURGE_CATEGORIES = (
    "events",
    "confirmations",
    "idempotency_keys",
    "inactive_customers",
    "audit_log",
)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each category is kept, in days (None: for ever)."""

    events_days: int | None = 730
    inactive_customer_days: int | None = 1095
    audit_days: int | None = 1095
    confirmations: bool = True
    idempotency_keys: bool = True

    def __post_init__(self) -> None:
        for name in ("events_days", "inactive_customer_days", "audit_days"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 day (or None to keep for ever)")


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed (or, with ``dry_run``, would remove), per category."""

    at: datetime
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: at, dry_run, counts (one per category)."""
        return {"at": self.at.isoformat(), "dry_run": self.dry_run, "counts": dict(self.counts)}


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _inactive(cutoff: datetime) -> Select[Any]:
    recent_order = exists().where(Order.customer_id == Customer.id, Order.ordered_at >= cutoff)
    recent_event = exists().where(Event.customer_id == Customer.id, Event.occurred_at >= cutoff)
    recent_consent = exists().where(
        ConsentEvent.customer_id == Customer.id, ConsentEvent.recorded_at >= cutoff
    )
    granted = exists().where(Consent.customer_id == Customer.id, Consent.granted.is_(True))
    return (
        select(Customer)
        .where(
            Customer.erased_at.is_(None),
            Customer.created_at < cutoff,
            ~recent_order,
            ~recent_event,
            ~recent_consent,
            ~granted,
        )
        .order_by(Customer.id)
    )


def purge(
    session: Session,
    secret: bytes,
    policy: RetentionPolicy,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    actor: str = "retention",
) -> PurgeReport:
    """Apply ``policy`` at ``now`` (committed, one category at a time); ``dry_run`` only counts."""
    at = utc_now(now)
    counts: dict[str, int] = {}

    def days(n: int) -> datetime:
        return at - timedelta(days=n)

    plans: list[tuple[str, Any, Any]] = []  # (category, model, condition)
    if policy.events_days is not None:
        plans.append(("events", Event, Event.occurred_at < days(policy.events_days)))
    if policy.confirmations:
        done = or_(ConsentConfirmation.expires_at <= at, ConsentConfirmation.used_at.is_not(None))
        plans.append(("confirmations", ConsentConfirmation, done))
    if policy.idempotency_keys:
        plans.append(("idempotency_keys", IdempotencyKey, IdempotencyKey.expires_at <= at))
    if policy.audit_days is not None:
        plans.append(("audit_log", AuditEntry, AuditEntry.occurred_at < days(policy.audit_days)))
    for category, model, condition in plans:
        if dry_run:
            counts[category] = _count(session, select(model).where(condition))
            continue
        result = session.execute(delete(model).where(condition))
        counts[category] = int(getattr(result, "rowcount", 0) or 0)
        session.commit()
    if policy.inactive_customer_days is not None:
        query = _inactive(days(policy.inactive_customer_days))
        if dry_run:
            counts["inactive_customers"] = _count(session, query)
        else:
            erased = 0
            for customer in session.scalars(query).all():
                erase_customer_row(
                    session, secret, customer, actor=actor, now=at, reason="retention"
                )
                session.commit()
                erased += 1
            counts["inactive_customers"] = erased
    ordered = {c: counts[c] for c in PURGE_CATEGORIES if c in counts}
    if not dry_run:
        record_access(session, actor, "retention.purge", None, ordered, now=at)
        session.commit()
    return PurgeReport(at, dry_run, ordered)
