"""Payments of subscription orders, delegated to the shop's payment provider: the provider (or
the shop) tells retentio the outcome (``POST /api/v1/subscriptions/payments``: succeeded or
failed). A failed payment follows the dunning schedule: retries the policy's days after the
first failure (default 1, 3, 7 and 14), the subscription ``past_due`` meanwhile, journeys told
(``payment_failed``); a payment that still fails after the last retry cancels the
subscription (involuntary churn, ``subscription_cancelled`` with ``voluntary: false``). A
success makes a past-due subscription active again.

The worker asks for each retry when it is due (``retries_due``): the order becomes pending
again and ``payment_retry`` is told to the shop (a journey's webhook, or the orders API).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.privacy.errors import NotFoundError
from retentio.store.subscription_tables import Subscription, SubscriptionOrder
from retentio.store.transactions import begin_write
from retentio.subscriptions.orders import order_json
from retentio.subscriptions.policy import Policy
from retentio.subscriptions.records import SubscriptionStateError, done_before, lock, log

__all__ = ["PAYMENT_OUTCOMES", "PaymentRecorded", "record_payment", "retries_due"]

PAYMENT_OUTCOMES = ("succeeded", "failed")


@dataclass(frozen=True, slots=True)
class PaymentRecorded:
    """The order after the outcome, and the subscription's status."""

    order: dict[str, Any]
    status: str
    repeated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "subscription_status": self.status, "repeated": self.repeated}


def _first_failure(session: Session, order: SubscriptionOrder) -> datetime | None:
    from retentio.store.subscription_tables import SubscriptionEvent as E

    return session.scalar(
        select(E.occurred_at)
        .where(
            E.subscription_id == order.subscription_id,
            E.kind == "payment_failed",
            E.data["order"].as_integer() == order.id,
        )
        .order_by(E.id)
        .limit(1)
    )


def record_payment(
    session: Session,
    policy: Policy,
    order_id: int,
    *,
    outcome: str,
    reference: str | None = None,
    reason: str | None = None,
    key: str | None,
    now: datetime,
    actor: str,
) -> PaymentRecorded:
    """Record the provider's ``outcome`` for an order (see the module's docstring); once per
    key. A paid or cancelled order takes no more outcomes (409)."""
    if outcome not in PAYMENT_OUTCOMES:
        raise DataError(f"outcome: one of {', '.join(PAYMENT_OUTCOMES)}")
    order = session.get(SubscriptionOrder, order_id)
    if order is None:
        raise NotFoundError(f"no subscription order {order_id}")
    row = lock(session, order.subscription_id)
    session.refresh(order, with_for_update=True)
    scoped = None if key is None else f"payment:{order.id}:{key}"[:300]
    if done_before(session, scoped) is not None:
        result = PaymentRecorded(order_json(order), row.status, repeated=True)
        session.rollback()
        return result
    if order.status in ("paid", "cancelled"):
        status = order.status
        session.rollback()
        raise SubscriptionStateError(f"order: {order_id} is {status} already")
    order.payment_reference = reference or order.payment_reference
    if outcome == "succeeded":
        order.status, order.paid_at, order.next_attempt_at = "paid", now, None
        if row.status == "past_due":
            row.status = "active"
        log(
            session,
            row,
            "payment_succeeded",
            {"order": order.id, "attempts": order.attempts + 1},
            now=now,
            actor=actor,
            key=scoped,
        )
    else:
        _failed(session, policy, row, order, reason, scoped, now, actor)
    result = PaymentRecorded(order_json(order), row.status)
    session.commit()
    return result


def _failed(
    session: Session,
    policy: Policy,
    row: Subscription,
    order: SubscriptionOrder,
    reason: str | None,
    key: str | None,
    now: datetime,
    actor: str,
) -> None:
    order.attempts += 1
    first = _first_failure(session, order) or now
    retry = order.attempts - 1  # retries already made
    data = {"order": order.id, "attempt": order.attempts, "reason": (reason or "")[:200]}
    if retry < len(policy.dunning_days):
        order.status = "retrying"
        order.next_attempt_at = first + timedelta(days=policy.dunning_days[retry])
        if row.status == "active":
            row.status = "past_due"
        data["next_attempt_at"] = order.next_attempt_at.isoformat()
        log(session, row, "payment_failed", data, now=now, actor=actor, key=key)
        return
    order.status, order.next_attempt_at = "cancelled", None
    log(session, row, "payment_failed", {**data, "final": True}, now=now, actor=actor, key=key)
    if row.status in ("active", "past_due", "paused"):
        row.status, row.cancelled_at, row.cancel_reason = "cancelled", now, "payment_failed"
        log(
            session,
            row,
            "subscription_cancelled",
            {"reason": "payment_failed", "voluntary": False},
            now=now,
            actor=actor,
        )


def retries_due(session: Session, *, now: datetime) -> int:
    """Orders whose next payment attempt is due become pending again, and the shop is told
    (``payment_retry`` in the subscription's history, for its integration); returns how many."""
    o = SubscriptionOrder
    due = session.scalars(
        select(o.id).where(o.status == "retrying", o.next_attempt_at <= now).order_by(o.id)
    ).all()
    session.rollback()
    for order_id in due:
        order = session.get(SubscriptionOrder, order_id)
        if order is None:
            continue
        row = lock(session, order.subscription_id)
        session.refresh(order, with_for_update=True)
        if (
            order.status != "retrying"
            or order.next_attempt_at is None
            or order.next_attempt_at > now
        ):
            session.rollback()
            continue
        order.status = "pending"
        log(
            session,
            row,
            "payment_retry",
            {"order": order.id, "attempt": order.attempts + 1},
            now=now,
            actor="retentio",
        )
        session.commit()
    begin_write(session)
    session.rollback()
    return len(due)
