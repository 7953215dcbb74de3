"""Ibis building blocks shared by the metrics: purchase days, gaps, first orders."""

from __future__ import annotations

from typing import Any

import ibis

from retentio.analytics import schema as s
from retentio.analytics._input import Frame

__all__ = ["first_orders", "gaps", "net_orders", "purchase_days"]


def purchase_days(frame: Frame) -> Any:
    """Distinct (customer_id, day) pairs with a purchase."""
    p = frame.purchases
    return p.select(customer_id=p[s.CUSTOMER_ID], day=p[s.ORDERED_AT].date()).distinct()


def gaps(frame: Frame) -> Any:
    """Days between consecutive purchase days of each customer.

    Columns: customer_id, day (the later purchase), previous_day, days.
    """
    days = purchase_days(frame)
    window = ibis.window(group_by=days.customer_id, order_by=days.day)
    with_previous = days.mutate(previous_day=days.day.lag().over(window))
    return with_previous.filter(with_previous.previous_day.notnull()).mutate(
        days=with_previous.day.delta(with_previous.previous_day, unit="day")
    )


def net_orders(frame: Frame) -> Any:
    """One row per purchase with its net value (refunds with the same order id netted).

    Columns: customer_id, order_id, ordered_at, day, value, order_number (1 = first order of
    the customer, by time then order id).
    """
    table = frame.table
    refunds = (
        table.filter(table[s.IS_REFUND])
        .group_by(s.ORDER_ID)
        .agg(refunded=lambda t: t[s.AMOUNT].sum())
    )
    joined = frame.purchases.left_join(refunds, s.ORDER_ID)
    orders = joined.select(
        customer_id=joined[s.CUSTOMER_ID],
        order_id=joined[s.ORDER_ID],
        ordered_at=joined[s.ORDERED_AT],
        day=joined[s.ORDERED_AT].date(),
        value=joined[s.AMOUNT] + joined.refunded.fill_null(0.0),
    )
    window = ibis.window(group_by=orders.customer_id, order_by=[orders.ordered_at, orders.order_id])
    return orders.mutate(order_number=ibis.row_number().over(window) + 1)


def first_orders(frame: Frame) -> Any:
    """Per customer: first purchase day, second purchase day (null without one), orders."""
    orders = net_orders(frame)
    return orders.group_by("customer_id").agg(
        first_day=lambda t: t.day.min(),
        second_day=lambda t: t.day.min(where=t.order_number == 2),
        orders=lambda t: t.count(),
        revenue=lambda t: t.value.sum(),
        last_day=lambda t: t.day.max(),
    )
