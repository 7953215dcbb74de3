"""The loyalty programme's scheduled work, run by ``retentio loyalty run`` and by the worker
(every ``RETENTIO_LOYALTY_JOBS_MINUTES``): earn for the store's new orders (and take back for
their refunds), release pending points whose return window ended,
grant birthday points, complete referrals whose qualifying order passed it, expire points and
send the reminders, and review tiers that ended. Each step is safe to repeat and to run beside
the API; on PostgreSQL one worker at a time runs them (an advisory lock), the others skip the
round.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from retentio.loyalty.birthdays import grant_birthdays
from retentio.loyalty.expiry import ExpiryRun, expire_points
from retentio.loyalty.ledger import release_due
from retentio.loyalty.referrals import complete_referrals
from retentio.loyalty.service import current_programme, saved_programme
from retentio.loyalty.store_orders import StoreSync, sync_store_orders
from retentio.loyalty.tiering import review_tiers
from retentio.store.loyalty_tables import LoyaltyAccount

__all__ = ["LoyaltyRun", "run_loyalty_jobs"]

#: The advisory lock's key: "retentio loyalty" as a number.
_LOCK = 0x726574656E74696F & 0x7FFFFFFFFFFFFFFF
_RELEASE_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class LoyaltyRun:
    """What a round did (``ran`` false: another worker held the round, or there is no
    programme yet)."""

    ran: bool
    orders: StoreSync | None = None
    released: int = 0
    birthdays: int = 0
    referrals_completed: int = 0
    expiry: ExpiryRun | None = None
    tiers_moved_down: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "orders": None if self.orders is None else self.orders.to_dict(),
            "released": self.released,
            "birthdays": self.birthdays,
            "referrals_completed": self.referrals_completed,
            "expiry": None if self.expiry is None else self.expiry.to_dict(),
            "tiers_moved_down": self.tiers_moved_down,
        }


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[bool]:
    """True when this process may run the round (always on SQLite, whose writers queue)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        got = bool(connection.scalar(select(func.pg_try_advisory_lock(_LOCK))))
        try:
            yield got
        finally:
            if got:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK})
            connection.rollback()


def run_loyalty_jobs(session: Session, *, now: datetime) -> LoyaltyRun:
    """One round of the programme in force's scheduled work (see the module's docstring)."""
    members = session.scalar(select(LoyaltyAccount.id).limit(1))
    if members is None and saved_programme(session) is None:  # no programme yet
        session.rollback()
        return LoyaltyRun(ran=False)
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # noqa: S101 (sessions are bound to engines)
    with _one_at_a_time(engine) as mine:
        if not mine:
            return LoyaltyRun(ran=False)
        programme = current_programme(session)
        session.rollback()
        orders = sync_store_orders(session, programme, now=now)
        released = 0
        while batch := release_due(session, programme, now=now, limit=_RELEASE_BATCH):
            released += batch
            if batch < _RELEASE_BATCH:
                break
        birthdays = grant_birthdays(session, programme, now=now)
        completed = complete_referrals(session, programme, now=now)
        expiry = expire_points(session, programme, now=now)
        moved = review_tiers(session, programme, now=now)
    return LoyaltyRun(True, orders, released, birthdays, completed, expiry, moved)
