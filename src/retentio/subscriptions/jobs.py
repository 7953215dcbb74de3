"""The subscriptions' scheduled work, run by ``retentio subscriptions renew`` and by the worker
(every ``RETENTIO_SUBSCRIPTION_JOBS_MINUTES``): the renewal run (pauses starting and ending,
pauses ending soon, renewal orders) and the payment retries that are due. On PostgreSQL the
renewal batches are shared by the workers (``SKIP LOCKED``); every step is safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from retentio.subscriptions.payments import retries_due
from retentio.subscriptions.renewals import RenewalRun, renew_due
from retentio.subscriptions.service import current_policy

__all__ = ["SubscriptionRun", "run_subscription_jobs"]


@dataclass(frozen=True, slots=True)
class SubscriptionRun:
    """What a round did."""

    renewals: RenewalRun
    retries: int

    def to_dict(self) -> dict[str, Any]:
        return {"renewals": self.renewals.to_dict(), "retries": self.retries}


def run_subscription_jobs(session: Session, *, now: datetime) -> SubscriptionRun:
    """One round (see the module's docstring) with the policy in force."""
    policy = current_policy(session)
    session.rollback()
    renewals = renew_due(session, policy, now=now)
    return SubscriptionRun(renewals, retries_due(session, now=now))
