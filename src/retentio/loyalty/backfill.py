"""Replay historical orders into the points ledger in bulk (``retentio loyalty backfill``).

The ledger it writes is the one replaying each order one by one would leave (``earn_for_order``
when it was placed, ``release_due`` as return windows end, ``reverse_for_refund`` at each
refund, then ``expire_points`` now), written set-based in one transaction:

- **Earn.** An order earns ``order_points`` on its amount at the base rate (tier multipliers
  and bonus campaigns are not replayed): one ``earn`` entry, key ``order:{id}``, dated when
  it was placed. An order already in the ledger is skipped, with its refunds. One still inside
  its return window now is pending until ``releases_at`` (the release job releases it); an
  older one is available at once, its lot expiring ``expiry.months`` after the window ended
  (one entry instead of earn + release).
- **Refunds** take back ``refund_points`` of all that was refunded of an order: one
  ``reverse`` entry (key ``refund:{id}:backfill``) dated at the last refund. What was refunded
  inside the return window comes from pending; for an order posted available, its earn entry
  holds that part as pending, so its lot is what the release would have made available.
- **Accounts** are made (dated at the member's first order) or updated in the same
  transaction; the cached balances are the sums of the entries. A new member's lots due by
  now expire in that transaction (the entry and key ``expire_points`` writes); then
  ``expire_points`` runs for everyone else, and sends its reminders.
- **Tiers.** A member gets the highest tier an order reached over the qualifying window
  ending at it, among the orders whose tier is still held now (not yet reviewed): one
  ``backfill`` row in ``loyalty_tier_changes``. Nobody is moved down.
- **No events** are written for history: journeys must not fire on orders of the past.

Bad input (a missing id, a refund with a positive amount, an order after ``now``, amounts
finer than the currency's minor unit, ...) raises a DataError naming the rows; nothing is
written then.

The parts: ``_backfill_input`` reads and checks the table and finds the orders that earn,
``_backfill_time`` holds the vectorised clock arithmetic, ``_backfill_plan`` computes the
entries and tiers from the orders, and ``_backfill_store`` reads and writes the store; this
module runs them in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from retentio.core.errors import ConfigurationError
from retentio.loyalty._backfill_input import (
    Orders,
    checked_rows,
    count_skipped,
    earning_orders,
    per_member,
    spend_points_of,
)
from retentio.loyalty._backfill_plan import expiring, plan_entries
from retentio.loyalty._backfill_store import (
    Progress,
    in_ledger,
    member_tiers,
    resolve_customers,
    stored_accounts,
    write_accounts,
    write_entries,
    write_expiries,
)
from retentio.loyalty._backfill_time import Ints, add_months_us, micros
from retentio.loyalty.expiry import expire_points
from retentio.loyalty.programme import Programme
from retentio.store.params import is_postgres
from retentio.store.transactions import begin_write

__all__ = ["BackfillResult", "Progress", "add_months_us", "backfill_orders", "spend_points_of"]


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """What a backfill did; ``skipped`` counts the orders (and refund rows) left out, by why."""

    orders_read: int
    orders_replayed: int
    orders_already_in_ledger: int
    skipped: dict[str, int]
    customers_created: int
    members: int
    points_available: int
    points_pending: int
    refunds_reversed: int
    points_expired: int
    tiers_set: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        found = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**found, "skipped": dict(self.skipped), "seconds": round(self.seconds, 2)}


@dataclass(slots=True)
class _Written:
    replayed: int = 0
    already: int = 0
    created: int = 0
    members: int = 0
    available: int = 0
    pending: int = 0
    reversed: int = 0
    expired: int = 0
    tiers: int = 0


def _write(
    session: Session, programme: Programme, orders: Orders, names: list[str], now: datetime,
    recorded_by: str, skipped: dict[str, int], tell: Progress,
) -> _Written:  # fmt: skip
    """Customers, accounts, entries and tier changes, in the session's transaction."""
    connection = begin_write(session)
    if is_postgres(connection):  # times travel as UTC text (_backfill_store._stamps)
        connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    done = _Written()
    orders, customer_id = _new_orders(connection, orders, names, skipped, done, tell)
    if orders.at.size == 0:
        return done
    members, m = np.unique(customer_id, return_inverse=True)
    n = members.size
    accounts = stored_accounts(connection, members.tolist())
    before = np.array([getattr(accounts.get(c), "available", 0) for c in members.tolist()])
    plan = plan_entries(orders, programme, micros(now), m, before.astype(np.int64))
    tiers = member_tiers(connection, programme, now, accounts, members, m, orders, plan)
    back = plan.back
    first, last = np.full(n, np.iinfo(np.int64).max), np.zeros(n, dtype=np.int64)
    np.minimum.at(first, m, orders.at)
    np.maximum.at(last, m, orders.at)
    available = per_member(m, plan.earn_points, n) - per_member(m[back], plan.late_back, n)
    fresh = np.array([c not in accounts for c in members.tolist()], dtype=bool)
    expired = np.where(fresh, expiring(programme, now, m, plan, available, last), 0)
    taken = plan.early_back + plan.late_back
    sums = {
        "available": available - expired,
        "pending": per_member(m, plan.earn_pending, n) - per_member(m[back], plan.early_back, n),
        "earned": per_member(m, orders.points, n) - per_member(m[back], taken, n),
        "first": first,
        "last": last,
    }
    tell("Writing the accounts", 0, 1)
    account_of, done.tiers = write_accounts(
        connection, programme, now, members, accounts, sums, tiers
    )
    write_entries(connection, programme, orders, plan, account_of[m], recorded_by, tell)
    write_expiries(connection, programme, now, account_of, expired, last)
    done.replayed, done.members, done.reversed = orders.at.size, n, back.size
    done.available = int(plan.earn_points.sum() - plan.late_back.sum())
    done.pending = int(plan.earn_pending.sum() - plan.early_back.sum())
    done.expired = int(expired.sum())
    return done


def _new_orders(
    connection: Connection, orders: Orders, names: list[str], skipped: dict[str, int],
    done: _Written, tell: Progress,
) -> tuple[Orders, Ints]:  # fmt: skip
    """The orders not in the ledger yet, of customers not erased (made when missing), with
    each one's customer id."""
    stored = in_ledger(connection, [f"order:{order}" for order in orders.order.tolist()])
    done.already = int(stored.sum())
    orders = orders.keep(~stored)
    tell("Finding the customers", 0, 1)
    codes = np.unique(orders.customer)
    living, erased, done.created = resolve_customers(connection, [names[c] for c in codes.tolist()])
    ids = np.array([living.get(names[c], -1) for c in codes.tolist()], dtype=np.int64)
    customer_id = ids[np.searchsorted(codes, orders.customer)]
    count_skipped(skipped, "customer erased", int((customer_id < 0).sum()))
    return orders.keep(customer_id >= 0), customer_id[customer_id >= 0]


@contextmanager
def _session(given: Session | Engine) -> Iterator[Session]:
    if isinstance(given, Session):
        yield given
        return
    with Session(given) as session:
        yield session


def _quiet(_step: str, _done: int, _total: int) -> None:
    return None


def backfill_orders(
    session_or_engine: Session | Engine,
    programme: Programme,
    transactions: pa.Table,
    *,
    now: datetime,
    recorded_by: str,
    progress: Progress | None = None,
) -> BackfillResult:
    """Replay the orders of ``transactions`` (the normalised transactions table) into the
    ledger as of ``now`` (see the module's docstring); ``progress(step, done, total)``."""
    if now.tzinfo is None:
        raise ConfigurationError("now: an aware datetime")
    started = time.perf_counter()
    tell = progress or _quiet
    tell("Checking the orders", 0, 1)
    skipped: dict[str, int] = {}
    rows = checked_rows(transactions, programme, micros(now))
    orders, names = earning_orders(rows, programme, skipped), rows.customers
    with _session(session_or_engine) as session:
        try:
            done = _write(session, programme, orders, names, now, recorded_by, skipped, tell)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        tell("Expiring points", 0, 1)
        run = expire_points(session, programme, now=now)
    return BackfillResult(
        orders_read=int((~rows.refund).sum()),
        orders_replayed=done.replayed,
        orders_already_in_ledger=done.already,
        skipped=skipped,
        customers_created=done.created,
        members=done.members,
        points_available=done.available,
        points_pending=done.pending,
        refunds_reversed=done.reversed,
        points_expired=done.expired + run.points,
        tiers_set=done.tiers,
        seconds=time.perf_counter() - started,
    )
