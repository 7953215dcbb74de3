"""Per-customer order figures, kept beside the orders: ``customer_order_stats`` (orders, first
and latest) and ``customer_spend`` (orders and totals less refunds, per currency).

Every order write keeps them in its own transaction, so the figures never disagree with the
orders. New orders are added (:func:`add_orders`: one upsert of increments, which concurrent
batches apply one after the other); a changed order (a new status, total or customer) makes
its customers' figures recomputed from their orders (:func:`refresh_order_stats`).

On PostgreSQL each statement reads the orders committed when it starts, and a statement that
meets a figure row another batch is writing waits for it, then sees it; two batches that
both insert a customer's row fail one on the key, and the failed one runs again. So the
figures stay right under concurrent batches (tested). A recount locks its customers' rows
first (``FOR NO KEY UPDATE``, in id order, which does not conflict with the key locks that
inserting their orders takes), so that batches of one customer recount one after the other.
Without the lock, 20 concurrent batches of one customer ran out of retries. SQLite has one
writer at a time.

Segments then join one row a customer instead of aggregating every order. Orders that are
cancelled or pending do not count, as in the analytics (``EXCLUDED_STATUSES``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from retentio.store.arrow import EXCLUDED_STATUSES
from retentio.store.params import one_of
from retentio.store.tables import Customer, CustomerOrderStats, CustomerSpend, Order, Refund

__all__ = ["SPEND", "STATS", "NewOrders", "add_orders", "refresh_order_stats"]

STATS: Table = CustomerOrderStats.__table__  # type: ignore[assignment]
SPEND: Table = CustomerSpend.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
REFUNDS: Table = Refund.__table__  # type: ignore[assignment]
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]


def refresh_order_stats(connection: Connection, customer_ids: Iterable[int] | None) -> None:
    """Recompute the figures of ``customer_ids`` (None: every customer) from their orders,
    inside the connection's transaction."""
    ids = None if customer_ids is None else sorted(set(customer_ids))
    if ids == []:
        return

    def only(column: Any) -> list[Any]:
        return [] if ids is None else [one_of(connection, column, ids)]

    if ids is not None and connection.dialect.name == "postgresql":
        c = CUSTOMERS.c
        locked = select(c.id).where(one_of(connection, c.id, ids)).order_by(c.id)
        connection.execute(locked.with_for_update(key_share=True)).all()  # FOR NO KEY UPDATE
    o, r = ORDERS.c, REFUNDS.c
    counted = o.status.not_in(EXCLUDED_STATUSES)
    connection.execute(delete(STATS).where(*only(STATS.c.customer_id)))
    connection.execute(delete(SPEND).where(*only(SPEND.c.customer_id)))
    connection.execute(
        insert(STATS).from_select(
            ["customer_id", "order_count", "first_order_at", "last_order_at"],
            select(o.customer_id, func.count(), func.min(o.ordered_at), func.max(o.ordered_at))
            .where(counted, *only(o.customer_id))
            .group_by(o.customer_id),
        )
    )
    refunded = (
        select(func.coalesce(func.sum(r.amount_minor), 0))
        .where(r.order_id == o.id)
        .scalar_subquery()
    )
    connection.execute(
        insert(SPEND).from_select(
            ["customer_id", "currency", "order_count", "spend_minor"],
            select(o.customer_id, o.currency, func.count(), func.sum(o.total_minor - refunded))
            .where(counted, *only(o.customer_id))
            .group_by(o.customer_id, o.currency),
        )
    )


@dataclass
class NewOrders:
    """The figures of orders just inserted, per customer (and currency), to add."""

    #: customer id -> [orders, first ordered_at, latest ordered_at]
    counts: dict[int, list[Any]] = field(default_factory=dict)
    #: (customer id, currency) -> [orders, total less refunds in minor units]
    spend: dict[tuple[int, str], list[int]] = field(default_factory=dict)

    def add(self, customer_id: int, at: datetime, currency: str, net_minor: int) -> None:
        """Count one new order (that is not cancelled or pending)."""
        known = self.counts.get(customer_id)
        if known is None:
            self.counts[customer_id] = [1, at, at]
        else:
            known[0] += 1
            known[1] = min(known[1], at)
            known[2] = max(known[2], at)
        spent = self.spend.setdefault((customer_id, currency), [0, 0])
        spent[0] += 1
        spent[1] += net_minor

    def without(self, customer_ids: set[int]) -> NewOrders:
        """These figures less those of ``customer_ids`` (recomputed instead)."""
        return NewOrders(
            {c: v for c, v in self.counts.items() if c not in customer_ids},
            {k: v for k, v in self.spend.items() if k[0] not in customer_ids},
        )


def add_orders(connection: Connection, new: NewOrders) -> None:
    """Add the figures of new orders to their customers' (one upsert of increments per table,
    in customer order)."""
    postgres = connection.dialect.name == "postgresql"
    insert_ = pg_insert if postgres else sqlite_insert
    lower, upper = (func.least, func.greatest) if postgres else (func.min, func.max)
    if new.counts:
        statement = insert_(STATS)
        s, e = STATS.c, statement.excluded
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[s.customer_id],
                set_={
                    "order_count": s.order_count + e.order_count,
                    "first_order_at": lower(s.first_order_at, e.first_order_at),
                    "last_order_at": upper(s.last_order_at, e.last_order_at),
                },
            ),
            [
                {"customer_id": c, "order_count": n, "first_order_at": a, "last_order_at": b}
                for c, (n, a, b) in sorted(new.counts.items())
            ],
        )
    if new.spend:
        statement = insert_(SPEND)
        s, e = SPEND.c, statement.excluded
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[s.customer_id, s.currency],
                set_={
                    "order_count": s.order_count + e.order_count,
                    "spend_minor": s.spend_minor + e.spend_minor,
                },
            ),
            [
                {"customer_id": c, "currency": cur, "order_count": n, "spend_minor": m}
                for (c, cur), (n, m) in sorted(new.spend.items())
            ],
        )
