"""The orders a subscription makes: one per cycle (a renewal, or an order the customer asked
for now), at the items' prices less a save offer's discount, pending until the shop's payment
provider answers (``payments``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from retentio.store.subscription_tables import Subscription, SubscriptionItem, SubscriptionOrder

__all__ = ["discounted", "make_order", "order_json"]


def discounted(row: Subscription, items: list[SubscriptionItem]) -> tuple[int, int]:
    """The next order's amount and the discount percent on it (0 without one)."""
    total = sum(item.quantity * item.price_minor for item in items)
    discount = row.discount or {}
    percent = int(discount.get("percent", 0)) if int(discount.get("cycles", 0)) > 0 else 0
    return total - total * percent // 100, percent


def make_order(
    session: Session,
    row: Subscription,
    items: list[SubscriptionItem],
    *,
    kind: str,
    due_on: date,
    now: datetime,
) -> SubscriptionOrder:
    """The order of the subscription's next cycle (``row.cycle`` moves on by one); a discount
    left for it is used up by one cycle. The caller holds the row's lock."""
    amount, percent = discounted(row, items)
    if percent:
        left = int((row.discount or {}).get("cycles", 0)) - 1
        row.discount = {**(row.discount or {}), "cycles": left} if left > 0 else None
    row.cycle += 1
    order = SubscriptionOrder(
        subscription_id=row.id,
        cycle=row.cycle,
        kind=kind,
        due_on=due_on,
        amount_minor=amount,
        currency=row.currency,
        items=[
            {"product": i.product, "quantity": i.quantity, "price_minor": i.price_minor}
            for i in items
        ],
        status="pending",
        attempts=0,
        created_at=now,
    )
    session.add(order)
    return order


def order_json(order: SubscriptionOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "subscription": order.subscription_id,
        "cycle": order.cycle,
        "kind": order.kind,
        "due_on": order.due_on,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "items": order.items,
        "status": order.status,
        "attempts": order.attempts,
        "next_attempt_at": order.next_attempt_at,
        "created_at": order.created_at,
        "paid_at": order.paid_at,
    }
