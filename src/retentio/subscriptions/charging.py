"""Asking the shop's payment provider to charge: the payment adapter.

retentio holds no card and charges nobody. Each order waiting for payment (``pending``: a new
renewal, an order now, or a dunning retry that is due) of a subscription not cancelled and a
customer not erased is handed to a :class:`PaymentAdapter` once per attempt; the provider
charges, and its outcome comes back through the payments webhook (``POST
/api/v1/subscriptions/payments``: ``succeeded`` or ``failed``,
:func:`retentio.subscriptions.record_payment`), which runs the dunning schedule.

The adapter that ships is :class:`WebhookPaymentAdapter`: a signed Standard Webhooks call
(``subscription.charge_requested``) to the shop's integration at
``RETENTIO_PAYMENT_WEBHOOK_URL``, which charges through its provider (Stripe, Mollie, Adyen,
Nets, ...). Without an adapter the shop reads the pending orders itself (``GET
/api/v1/subscriptions/orders?status=pending``).

Each attempt is claimed before it is sent: a ``charge_sending`` event in the subscription's
history under a key per order and attempt (unique: one process wins), which becomes
``charge_requested`` once the provider took it, and is removed when it did not (the next round
asks again, under the same ``webhook-id``, so a receiver can drop a repeat). A claim left by a
process that stopped mid-send is taken over after :data:`CLAIM_MINUTES`. A few requests go out
at once (:data:`PARALLEL`); the worker gives a round a time budget, the next round goes on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import String, and_, cast, delete, exists, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.channels.webhook import OutgoingWebhook, WebhookChannel
from retentio.store.subscription_tables import Subscription, SubscriptionEvent, SubscriptionOrder
from retentio.store.tables import Customer
from retentio.store.transactions import retrying
from retentio.subscriptions.orders import order_json
from retentio.subscriptions.records import lock, log

__all__ = [
    "CHARGE_REQUESTED",
    "CLAIM_MINUTES",
    "PARALLEL",
    "ChargeAnswer",
    "ChargeRequest",
    "ChargeRun",
    "PaymentAdapter",
    "WebhookPaymentAdapter",
    "request_charges",
]

#: The webhook's ``type``.
CHARGE_REQUESTED = "subscription.charge_requested"
#: Minutes after which another process may take over a claim that was never settled.
CLAIM_MINUTES = 10
#: Requests sent at once.
PARALLEL = 4
#: Orders claimed at a time.
_PAGE = 100
#: Receiver-wide failures (unreachable, 5xx, refused address) in a row after which a round
#: stops: the receiver is down, the next round tries again.
_GIVE_UP_AFTER = 5


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """One attempt at charging an order: ``id`` is stable per order and attempt (the
    webhook's ``webhook-id``, by which a receiver drops a repeat); ``data`` what the
    provider needs (the order, its customer, the attempt)."""

    id: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChargeAnswer:
    """Whether the provider took the request (``accepted``; the outcome comes later through
    the payments webhook); when not, why, and whether it was about this order only
    (``order_only``: a 4xx answer) rather than the receiver (down, unreachable)."""

    accepted: bool
    detail: str = ""
    order_only: bool = False


class PaymentAdapter(Protocol):
    """What hands an order to the shop's payment provider (called from several threads)."""

    def request_charge(self, request: ChargeRequest) -> ChargeAnswer:
        """Ask for the charge; accepted when the provider has it (its outcome follows)."""
        ...


class WebhookPaymentAdapter:
    """A signed ``subscription.charge_requested`` webhook to ``url`` per attempt; a 2xx
    answer accepts it."""

    def __init__(self, channel: WebhookChannel, url: str) -> None:
        self._channel, self._url = channel, url

    def request_charge(self, request: ChargeRequest) -> ChargeAnswer:
        payload = {"type": CHARGE_REQUESTED, "data": dict(request.data)}
        result = self._channel.send(OutgoingWebhook(request.id, self._url, payload))
        return ChargeAnswer(result.sent, result.detail, order_only=result.status == "permanent")

    def close(self) -> None:
        self._channel.close()


@dataclass(slots=True)
class ChargeRun:
    """What a round asked for: orders the provider took, requests that failed (asked again
    next round) with the last error, and whether the round stopped early (``unfinished``:
    the receiver was down, or the time budget ran out)."""

    requested: int = 0
    failed: int = 0
    last_error: str = ""
    unfinished: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "failed": self.failed,
            "last_error": self.last_error,
            "unfinished": self.unfinished,
        }


def _key(order_id: int, attempt: int) -> str:
    return f"charge:{order_id}:{attempt}"


def _candidates(after: int, stale: datetime) -> Any:
    """Orders after id ``after`` waiting for payment whose attempt nobody holds: not
    requested, and not claimed since ``stale``; of open subscriptions of customers not
    erased."""
    o, e, s, c = SubscriptionOrder, SubscriptionEvent, Subscription, Customer
    key = literal("charge:") + cast(o.id, String) + ":" + cast(o.attempts + 1, String)
    held = exists().where(
        and_(
            e.subscription_id == o.subscription_id,
            e.key == key,
            or_(e.kind == "charge_requested", e.occurred_at > stale),
        )
    )
    return (
        select(o.id, o.attempts)
        .join(s, s.id == o.subscription_id)
        .join(c, c.id == s.customer_id)
        .where(
            o.status == "pending",
            o.id > after,
            s.status != "cancelled",
            c.erased_at.is_(None),
            ~held,
        )
        .order_by(o.id)
        .limit(_PAGE)
    )


def _claim(
    session: Session, order_id: int, attempt: int, stale: datetime, now: datetime
) -> ChargeRequest | None:
    """Claim the attempt (a ``charge_sending`` event under its key, or a stale claim taken
    over) and build its request; None when another process holds it or the order moved on."""

    def work() -> ChargeRequest | None:
        order = session.get(SubscriptionOrder, order_id)
        if order is None:
            session.rollback()
            return None
        row = lock(session, order.subscription_id)  # the subscription first, as payments do
        session.refresh(order, with_for_update=True)
        key = _key(order_id, attempt)
        if order.status != "pending" or order.attempts + 1 != attempt or row.status == "cancelled":
            session.rollback()
            return None
        e = SubscriptionEvent
        found = session.scalars(select(e).where(e.key == key)).one_or_none()
        if found is None:
            data = {"order": order_id, "attempt": attempt}
            log(session, row, "charge_sending", data, now=now, actor="retentio", key=key)
        elif found.kind == "charge_sending" and found.occurred_at <= stale:
            found.occurred_at = now  # taken over from a process that stopped mid-send
        else:
            session.rollback()
            return None
        customer = session.scalar(
            select(Customer.external_id).where(Customer.id == row.customer_id)
        )
        request = ChargeRequest(key, _data(order, str(customer), attempt, now))
        session.commit()
        return request

    try:
        return retrying(session, work)
    except IntegrityError:  # the key: another process claimed the attempt meanwhile
        session.rollback()
        return None


def _settle(session: Session, key: str, accepted: bool) -> None:
    """The claim becomes ``charge_requested``, or goes (asked again next round)."""
    e = SubscriptionEvent
    mine = and_(e.key == key, e.kind == "charge_sending")

    def work() -> None:
        if accepted:
            session.execute(update(e).where(mine).values(kind="charge_requested"))
        else:
            session.execute(delete(e).where(mine))
        session.commit()

    retrying(session, work)


def _data(order: SubscriptionOrder, customer: str, attempt: int, now: datetime) -> dict[str, Any]:
    body = order_json(order)
    return {
        "order": {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in body.items()},
        "customer": customer,
        "attempt": attempt,
        "requested_at": now.isoformat(),
        "report_to": "/api/v1/subscriptions/payments",
    }


def request_charges(
    session: Session,
    adapter: PaymentAdapter,
    *,
    now: datetime,
    budget_seconds: float | None = None,
) -> ChargeRun:
    """Hand every order waiting for payment whose attempt nobody holds to ``adapter``,
    oldest first, :data:`PARALLEL` at a time (see the module's docstring); stop after
    ``budget_seconds`` (None: when done)."""
    run, after, failing = ChargeRun(), 0, 0
    stale = now - timedelta(minutes=CLAIM_MINUTES)
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="retentio-charges") as pool:
        while page := session.execute(_candidates(after, stale)).all():
            session.rollback()  # no transaction held while the provider answers
            after = page[-1][0]
            for first in range(0, len(page), PARALLEL):
                if failing >= _GIVE_UP_AFTER or (
                    budget_seconds is not None and time.monotonic() - started > budget_seconds
                ):
                    run.unfinished = True
                    return run
                chunk = page[first : first + PARALLEL]
                claimed = [_claim(session, o, attempts + 1, stale, now) for o, attempts in chunk]
                requests = [request for request in claimed if request is not None]
                answers = list(pool.map(adapter.request_charge, requests))
                for request, answer in zip(requests, answers, strict=True):
                    _settle(session, request.id, answer.accepted)
                    if answer.accepted:
                        run.requested, failing = run.requested + 1, 0
                        continue
                    run.failed, run.last_error = run.failed + 1, answer.detail[:300]
                    failing = 0 if answer.order_only else failing + 1
        session.rollback()
    return run
