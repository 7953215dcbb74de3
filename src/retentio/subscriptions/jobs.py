"""The subscriptions' scheduled work, run by ``retentio subscriptions renew`` and by the worker
(every ``RETENTIO_SUBSCRIPTION_JOBS_MINUTES``): the renewal run (pauses starting and ending,
pauses ending soon, renewal orders), the payment retries that are due, and (with a payment
adapter) the charges asked of the shop's payment provider. On PostgreSQL the renewal batches
are shared by the workers (``SKIP LOCKED``); every step is safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from retentio.subscriptions.charging import ChargeRun, PaymentAdapter, request_charges
from retentio.subscriptions.payments import retries_due
from retentio.subscriptions.renewals import RenewalRun, renew_due
from retentio.subscriptions.service import current_policy

__all__ = ["SubscriptionRun", "run_subscription_jobs"]


@dataclass(frozen=True, slots=True)
class SubscriptionRun:
    """What a round did."""

    renewals: RenewalRun
    retries: int
    charges: ChargeRun | None = None  # None: no payment adapter

    def to_dict(self) -> dict[str, Any]:
        charges = None if self.charges is None else self.charges.to_dict()
        return {"renewals": self.renewals.to_dict(), "retries": self.retries, "charges": charges}


def run_subscription_jobs(
    session: Session,
    *,
    now: datetime,
    adapter: PaymentAdapter | None = None,
    charge_budget_seconds: float | None = None,
) -> SubscriptionRun:
    """One round (see the module's docstring) with the policy in force; the pending orders
    go to ``adapter`` when there is one, for ``charge_budget_seconds`` at most (None: all)."""
    policy = current_policy(session)
    session.rollback()
    renewals = renew_due(session, policy, now=now)
    retries = retries_due(session, now=now)
    charges = None
    if adapter is not None:
        charges = request_charges(session, adapter, now=now, budget_seconds=charge_budget_seconds)
    return SubscriptionRun(renewals, retries, charges)
