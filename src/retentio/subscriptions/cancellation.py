"""The cancellation flow: a customer who wants to cancel says why, is offered what their
reason calls for (pause instead, skip, swap, a longer cadence, a discount at most once per
cooldown), and either takes an offer or confirms the cancellation. Every offer shown and its
outcome (accepted, or declined by cancelling) is in the subscription's history, for the
save-offer report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.store.subscription_tables import Subscription, SubscriptionEvent
from retentio.subscriptions.actions import reschedule
from retentio.subscriptions.policy import Policy, Reason
from retentio.subscriptions.records import (
    SubscriptionStateError,
    SubscriptionView,
    cadence_of,
    done_before,
    items_of,
    local_today,
    lock,
    log,
    show,
)

__all__ = ["CancelOutcome", "cancel_subscription", "offers_for"]

_OPEN = ("active", "paused", "past_due")


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What the flow answered: the offers (when it only asked), the offer taken, or the
    cancellation; and the subscription after it."""

    subscription: SubscriptionView
    cancelled: bool = False
    accepted: str | None = None
    offers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cancelled": self.cancelled,
            "accepted": self.accepted,
            "offers": self.offers,
            "subscription": self.subscription.to_dict(),
        }


def _reason(policy: Policy, code: str) -> Reason:
    reason = policy.reason(code)
    if reason is None:
        known = ", ".join(r.code for r in policy.reasons)
        raise DataError(f"reason: {code!r} is not a cancellation reason (known: {known})")
    return reason


def offers_for(
    policy: Policy, row: Subscription, reason: Reason, now: datetime
) -> list[dict[str, Any]]:
    """The offers ``reason`` gets for this subscription now (a discount not within the
    cooldown of the last one; a pause not while paused)."""
    found = []
    for offer in reason.offers:
        if offer == "discount" and row.last_discount_at is not None:
            if now - row.last_discount_at < timedelta(days=policy.discount_cooldown_days):
                continue
        if offer in ("pause", "skip", "cadence") and row.status != "active":
            continue
        details: dict[str, Any] = {"offer": offer}
        if offer == "pause":
            details["days"] = policy.pause_days
        elif offer == "discount":
            details |= {"percent": policy.discount_percent, "cycles": policy.discount_cycles}
        elif offer == "cadence":
            details["cadence"] = cadence_of(row).longer().to_dict()
        elif offer == "skip":
            details["on"] = row.next_order_on.isoformat()
        found.append(details)
    return found


def _shown(session: Session, row: Subscription, reason: str) -> list[str]:
    """The offers shown for ``reason`` since the subscription was last saved or cancelled."""
    e = SubscriptionEvent
    events = session.scalars(
        select(e)
        .where(e.subscription_id == row.id, e.kind.in_(("offer_shown", "offer_accepted")))
        .order_by(e.id.desc())
    )
    shown: list[str] = []
    for event in events:
        if event.kind == "offer_accepted":
            break
        if event.data.get("reason") == reason and event.data.get("offer") not in shown:
            shown.append(str(event.data.get("offer")))
    return shown


def cancel_subscription(
    session: Session,
    policy: Policy,
    subscription_id: int,
    *,
    reason: str,
    note: str | None = None,
    accept: str | None = None,
    swap_from: str | None = None,
    swap_to: str | None = None,
    confirm: bool = False,
    key: str | None,
    now: datetime,
    actor: str,
) -> CancelOutcome:
    """Without ``accept`` or ``confirm``: the offers for ``reason`` (recorded as shown);
    with ``accept``: take that offer (``swap_to`` names the product for a swap,
    ``swap_from`` the one it replaces when there are several); with
    ``confirm``: cancel, the offers shown declined."""
    code = _reason(policy, reason)
    if note is not None and len(note) > 1000:
        raise DataError("note: at most 1000 characters")
    if accept is not None and confirm:
        raise DataError("accept: take an offer or confirm the cancellation, not both")
    if accept != "swap" and (swap_from is not None or swap_to is not None):
        field = "swap_from" if swap_from is not None else "swap_to"
        raise DataError(f"{field}: only with accept: swap")
    row = lock(session, subscription_id)
    scoped = None if key is None else f"cancel:{row.id}:{key}"[:300]
    if done_before(session, scoped) is not None:
        view = show(session, row, repeated=True)
        session.rollback()
        return CancelOutcome(view, cancelled=row.status == "cancelled")
    if row.status not in _OPEN:
        status = row.status
        session.rollback()
        raise SubscriptionStateError(f"status: the subscription is {status} already")
    offers = offers_for(policy, row, code, now)
    if confirm:
        for declined in _shown(session, row, code.code):
            log(
                session,
                row,
                "offer_declined",
                {"reason": code.code, "offer": declined},
                now=now,
                actor=actor,
            )
        row.status, row.cancelled_at = "cancelled", now
        row.cancel_reason, row.cancel_note = code.code, note
        data = {"reason": code.code, "voluntary": True}
        log(session, row, "subscription_cancelled", data, now=now, actor=actor, key=scoped)
        view = show(session, row)
        session.commit()
        return CancelOutcome(view, cancelled=True)
    if accept is None:
        for offer in offers:
            log(
                session,
                row,
                "offer_shown",
                {"reason": code.code, "offer": offer["offer"]},
                now=now,
                actor=actor,
            )
        log(session, row, "cancel_asked", {"reason": code.code}, now=now, actor=actor, key=scoped)
        view = show(session, row)
        session.commit()
        return CancelOutcome(view, offers=offers)
    chosen = next((o for o in offers if o["offer"] == accept), None)
    if chosen is None:
        session.rollback()
        raise DataError(f"accept: {accept!r} is not offered for {code.code} now")
    done = _apply(session, policy, row, chosen, (swap_from, swap_to), now)
    log(
        session,
        row,
        "offer_accepted",
        {"reason": code.code, **chosen, **done},
        now=now,
        actor=actor,
        key=scoped,
    )
    view = show(session, row)
    session.commit()
    return CancelOutcome(view, accepted=accept)


def _apply(
    session: Session,
    policy: Policy,
    row: Subscription,
    offer: dict[str, Any],
    swap: tuple[str | None, str | None],
    now: datetime,
) -> dict[str, Any]:
    """Take ``offer``; what the history records of it besides the offer."""
    today = local_today(row, now)
    cadence = cadence_of(row)
    kind = offer["offer"]
    if kind == "pause":
        row.status, row.pause_until = "paused", today + timedelta(days=policy.pause_days)
    elif kind == "skip":
        reschedule(row, policy, cadence.first_after(row.anchor_on, row.next_order_on))
    elif kind == "cadence":
        longer = cadence.longer()
        row.cadence_unit, row.cadence_count = longer.unit, longer.count
        row.anchor_on = row.next_order_on
    elif kind == "discount":
        row.discount = {"percent": policy.discount_percent, "cycles": policy.discount_cycles}
        row.last_discount_at = now
    else:
        return _swap(session, row, *swap)
    return {}


def _swap(
    session: Session, row: Subscription, swap_from: str | None, swap_to: str | None
) -> dict[str, Any]:
    """The swap offer: ``swap_from`` (the only product when there is one) becomes
    ``swap_to`` at the same price; the products, for the history."""
    items = {item.product: item for item in items_of(session, row)}
    if not swap_to or len(swap_to) > 200:
        raise DataError("swap_to: the product to swap to (1 to 200 characters)")
    if swap_from is None:
        if len(items) != 1:
            names = ", ".join(sorted(items))
            raise DataError(f"swap_from: the subscription has several products ({names}): name one")
        swap_from = next(iter(items))
    if swap_from not in items:
        raise DataError(f"swap_from: {swap_from!r} is not in the subscription")
    if swap_to in items:
        raise DataError(f"swap_to: {swap_to!r} is in the subscription already")
    items[swap_from].product = swap_to
    return {"from": swap_from, "to": swap_to}
