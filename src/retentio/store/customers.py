"""Reading customers and their orders: keyed by the shop's ids, paged by a keyset cursor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retentio.store.arrow import EXCLUDED_STATUSES
from retentio.store.tables import Customer, Order, OrderLine, Refund

_Child = TypeVar("_Child", OrderLine, Refund)

__all__ = [
    "OrderTotals",
    "customer_by_external_id",
    "customer_orders",
    "list_customers",
    "order_lines",
    "order_refunds",
    "order_totals",
]


@dataclass(frozen=True)
class OrderTotals:
    """A customer's purchase history in one currency (amounts in minor units)."""

    currency: str
    orders: int
    revenue_minor: int
    refunded_minor: int
    first_order_at: datetime | None
    last_order_at: datetime | None


def customer_by_external_id(session: Session, external_id: str) -> Customer | None:
    """The customer the shop calls ``external_id``, or None."""
    query = select(Customer).where(Customer.external_id == external_id)
    return session.scalars(query).one_or_none()


def list_customers(
    session: Session,
    *,
    after_id: int = 0,
    limit: int = 100,
    email: str | None = None,
    country: str | None = None,
    updated_since: datetime | None = None,
    include_erased: bool = False,
) -> list[Customer]:
    """Customers in id order after ``after_id`` (the keyset cursor), filtered."""
    query = select(Customer).where(Customer.id > after_id)
    if email is not None:
        query = query.where(Customer.email == email)
    if country is not None:
        query = query.where(Customer.country == country)
    if updated_since is not None:
        query = query.where(Customer.updated_at >= updated_since)
    if not include_erased:
        query = query.where(Customer.erased_at.is_(None))
    return list(session.scalars(query.order_by(Customer.id).limit(limit)))


def customer_orders(
    session: Session,
    customer_id: int,
    *,
    after_id: int = 0,
    limit: int = 100,
    status: str | None = None,
    newest_first: bool = False,
) -> list[Order]:
    """A customer's orders in id order after ``after_id`` (or the newest, ``newest_first``)."""
    query = select(Order).where(Order.customer_id == customer_id, Order.id > after_id)
    if status is not None:
        query = query.where(Order.status == status)
    if newest_first:
        return list(session.scalars(query.order_by(Order.ordered_at.desc()).limit(limit)))
    return list(session.scalars(query.order_by(Order.id).limit(limit)))


def order_lines(session: Session, order_ids: Sequence[int]) -> dict[int, list[OrderLine]]:
    """The lines of these orders, by order id, in line order."""
    return _by_order(session, OrderLine, order_ids, OrderLine.line_no)


def order_refunds(session: Session, order_ids: Sequence[int]) -> dict[int, list[Refund]]:
    """The refunds of these orders, by order id, oldest first."""
    return _by_order(session, Refund, order_ids, Refund.refunded_at)


def _by_order(
    session: Session, table: type[_Child], order_ids: Sequence[int], order_by: Any
) -> dict[int, list[_Child]]:
    found: dict[int, list[_Child]] = {i: [] for i in order_ids}
    if order_ids:
        query = (
            select(table).where(table.order_id.in_(order_ids)).order_by(table.order_id, order_by)
        )
        for row in session.scalars(query):
            found[row.order_id].append(row)
    return found


def order_totals(session: Session, customer_id: int) -> list[OrderTotals]:
    """Per currency: the customer's purchases (orders not cancelled or pending), revenue,
    refunds, first and last order."""
    counted = Order.status.not_in(EXCLUDED_STATUSES)  # the purchases, as the analytics count
    refunds = (
        select(Order.currency, func.coalesce(func.sum(Refund.amount_minor), 0))
        .join(Refund, Refund.order_id == Order.id)
        .where(Order.customer_id == customer_id, counted)
        .group_by(Order.currency)
    )
    refunded = {currency: int(total) for currency, total in session.execute(refunds)}
    query = (
        select(
            Order.currency,
            func.count(Order.id),
            func.sum(Order.total_minor),
            func.min(Order.ordered_at),
            func.max(Order.ordered_at),
        )
        .where(Order.customer_id == customer_id, counted)
        .group_by(Order.currency)
        .order_by(Order.currency)
    )
    return [
        OrderTotals(currency, int(n), int(total), refunded.get(currency, 0), first, last)
        for currency, n, total, first, last in session.execute(query)
    ]
