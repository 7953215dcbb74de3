"""Points for the orders the shop already sends retentio (``POST /api/v1/orders``, ``retentio
load``), by the round: each order placed since the programme's first version was saved earns
once, as through ``POST /api/v1/loyalty/earn`` (the same key, so an order sent both ways earns
once); its refunds take their share back, and an order cancelled after it earned takes back
all of it. An order that earns nothing gets an entry of 0 points, so it is decided once.
Orders from before the programme began are history: ``retentio loyalty backfill`` replays
them. ``orders_from_store: false`` in the programme turns this off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, Table, and_, cast, exists, func, literal, select
from sqlalchemy.orm import Session

from retentio.loyalty.earning import Line
from retentio.loyalty.ledger import earn_for_order, reverse_for_refund
from retentio.loyalty.programme import Programme
from retentio.store.loyalty_tables import LoyaltyEntry, LoyaltyProgramme
from retentio.store.tables import Customer, Order, OrderLine, Refund

__all__ = ["StoreSync", "sync_store_orders"]

#: Orders in these states earn nothing (yet): as the analytics count purchases.
NOT_PURCHASES = ("cancelled", "pending")
_BATCH = 5_000
ORDERS: Table = Order.__table__  # type: ignore[assignment]
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
REFUNDS: Table = Refund.__table__  # type: ignore[assignment]
LINES: Table = OrderLine.__table__  # type: ignore[assignment]
ENTRIES: Table = LoyaltyEntry.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class StoreSync:
    """What a sync did: orders decided, refunds and cancellations taken back."""

    orders: int = 0
    refunds: int = 0
    cancelled: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"orders": self.orders, "refunds": self.refunds, "cancelled": self.cancelled}


def _keyed(prefix: str, column: Any) -> Any:
    return literal(prefix) + column


def _started(session: Session) -> datetime | None:
    return session.scalar(select(func.min(LoyaltyProgramme.created_at)))


def sync_store_orders(session: Session, programme: Programme, *, now: datetime) -> StoreSync:
    """Earn for the store's new orders and take back for their refunds and cancellations (see
    the module's docstring); each in its own transaction, at most 5,000 orders a round."""
    start = _started(session)
    if not programme.orders_from_store or start is None:
        session.rollback()
        return StoreSync()
    o, c, e = ORDERS.c, CUSTOMERS.c, ENTRIES.c
    decided = exists().where(e.key == _keyed("order:", o.external_id))
    new = session.execute(
        select(o.id, o.external_id, c.external_id, o.total_minor, o.currency, o.ordered_at)
        .join(CUSTOMERS, c.id == o.customer_id)
        .where(
            o.status.not_in(NOT_PURCHASES),
            o.ordered_at >= start,
            o.ordered_at <= now,
            c.erased_at.is_(None),
            ~decided,
        )
        .order_by(o.ordered_at, o.id)
        .limit(_BATCH)
    ).all()
    lines = _lines(session, [row[0] for row in new])
    session.rollback()
    for order_id, external_id, customer, total, currency, ordered_at in new:
        earn_for_order(
            session, programme, customer=customer, order_id=external_id, amount_minor=total,
            currency=currency, ordered_at=ordered_at, now=now, recorded_by="retentio",
            lines=lines.get(order_id, ()), record_nothing=True,
        )  # fmt: skip
    refunds = _take_back_refunds(session, programme, start, now)
    cancelled = _take_back_cancelled(session, programme, now)
    return StoreSync(len(new), refunds, cancelled)


def _lines(session: Session, orders: list[int]) -> dict[int, list[Line]]:
    found: dict[int, list[Line]] = {}
    if not orders:
        return found
    li = LINES.c
    for order, sku, amount in session.execute(
        select(li.order_id, li.sku, li.amount_minor)
        .where(li.order_id.in_(orders))
        .order_by(li.order_id, li.line_no)
    ):
        found.setdefault(order, []).append(Line(int(amount), sku))
    return found


def _earning(o: Any) -> Any:
    """The order's earn entry, when it earned points."""
    e = ENTRIES.c
    return and_(e.key == _keyed("order:", o.external_id), e.points + e.pending_points > 0)


def _take_back_refunds(
    session: Session, programme: Programme, start: datetime, now: datetime
) -> int:
    """The refunds made since the programme began (a backfill took the earlier ones)."""
    o, c, r, e = ORDERS.c, CUSTOMERS.c, REFUNDS.c, ENTRIES.c
    refund_key = func.coalesce(r.external_id, _keyed("r", cast(r.id, String)))
    # the refunds so far of the order, up to and including this one
    so_far = (
        select(func.sum(REFUNDS.c.amount_minor))
        .where(REFUNDS.c.order_id == r.order_id, REFUNDS.c.id <= r.id)
        .scalar_subquery()
    )
    taken = exists().where(e.key == _keyed("refund:", o.external_id) + literal(":") + refund_key)
    due = session.execute(
        select(c.external_id, o.external_id, o.total_minor, so_far, refund_key)
        .select_from(
            REFUNDS.join(ORDERS, o.id == r.order_id).join(CUSTOMERS, c.id == o.customer_id)
        )
        .where(exists().where(_earning(o)), ~taken, c.erased_at.is_(None), r.refunded_at >= start)
        .order_by(r.id)
        .limit(_BATCH)
    ).all()
    session.rollback()
    for customer, order, total, refunded, refund_id in due:
        reverse_for_refund(
            session, programme, customer=customer, order_id=order, amount_minor=int(total),
            refunded_minor=int(refunded), refund_id=str(refund_id), now=now,
            recorded_by="retentio", record_nothing=True,
        )  # fmt: skip
    return len(due)


def _take_back_cancelled(session: Session, programme: Programme, now: datetime) -> int:
    o, c, e = ORDERS.c, CUSTOMERS.c, ENTRIES.c
    taken = exists().where(e.key == _keyed("refund:", o.external_id) + literal(":cancelled"))
    due = session.execute(
        select(c.external_id, o.external_id, o.total_minor)
        .join(CUSTOMERS, c.id == o.customer_id)
        .where(o.status == "cancelled", exists().where(_earning(o)), ~taken, c.erased_at.is_(None))
        .limit(_BATCH)
    ).all()
    session.rollback()
    for customer, order, total in due:
        reverse_for_refund(
            session, programme, customer=customer, order_id=order, amount_minor=int(total),
            refunded_minor=int(total), refund_id="cancelled", now=now, recorded_by="retentio",
            record_nothing=True,
        )  # fmt: skip
    return len(due)
