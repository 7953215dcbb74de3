"""Asking the shop's payment provider to charge: the payment adapter.

retentio holds no card and charges nobody. Each order waiting for payment (``pending``: a new
renewal, an order now, or a dunning retry that is due) is handed to a
:class:`PaymentAdapter` once per attempt; the provider charges, and its outcome comes back
through the payments webhook (``POST /api/v1/subscriptions/payments``: ``succeeded`` or
``failed``, :func:`retentio.subscriptions.record_payment`), which runs the dunning schedule.

The adapter that ships is :class:`WebhookPaymentAdapter`: a signed Standard Webhooks call
(``subscription.charge_requested``) to the shop's integration at
``RETENTIO_PAYMENT_WEBHOOK_URL``, which charges through its provider (Stripe, Mollie, Adyen,
Nets, ...). Without an adapter the shop reads the pending orders itself (``GET
/api/v1/subscriptions/orders?status=pending``).

A request is recorded in the subscription's history (``charge_requested``) under a key per
order and attempt, so each attempt is asked for once, also with several workers; a receiver
that does not answer 2xx is asked again at the next round, under the same ``webhook-id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import String, and_, cast, exists, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.channels.webhook import OutgoingWebhook, WebhookChannel
from retentio.core.errors import ConfigurationError
from retentio.store.subscription_tables import Subscription, SubscriptionEvent, SubscriptionOrder
from retentio.store.tables import Customer
from retentio.subscriptions.orders import order_json
from retentio.subscriptions.records import log

__all__ = [
    "CHARGE_REQUESTED",
    "ChargeAnswer",
    "ChargeRequest",
    "ChargeRun",
    "PaymentAdapter",
    "WebhookPaymentAdapter",
    "request_charges",
]

#: The webhook's ``type``, and the history's event (``charge_requested``).
CHARGE_REQUESTED = "subscription.charge_requested"
#: Orders read at a time.
_PAGE = 200
#: Failed requests in a row after which a round stops (the receiver is down: the next round
#: tries again).
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
    the payments webhook), and why not."""

    accepted: bool
    detail: str = ""


class PaymentAdapter(Protocol):
    """What hands an order to the shop's payment provider."""

    def request_charge(self, request: ChargeRequest) -> ChargeAnswer:
        """Ask for the charge; accepted when the provider has it (its outcome follows)."""
        ...


class WebhookPaymentAdapter:
    """A signed ``subscription.charge_requested`` webhook to ``url`` per attempt; a 2xx
    answer accepts it."""

    def __init__(self, channel: WebhookChannel, url: str) -> None:
        self._channel, self._url = channel, url

    def request_charge(self, request: ChargeRequest) -> ChargeAnswer:
        """Post the request; a URL the channel refuses (not https, an internal address) is a
        ConfigurationError naming ``RETENTIO_PAYMENT_WEBHOOK_URL``."""
        payload = {"type": CHARGE_REQUESTED, "data": dict(request.data)}
        result = self._channel.send(OutgoingWebhook(request.id, self._url, payload))
        if result.status == "rejected":
            raise ConfigurationError(f"RETENTIO_PAYMENT_WEBHOOK_URL: {result.detail}")
        return ChargeAnswer(result.sent, result.detail)


@dataclass(slots=True)
class ChargeRun:
    """What a round asked for: orders handed to the provider, and requests that failed
    (asked again next round)."""

    requested: int = 0
    failed: int = 0
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"requested": self.requested, "failed": self.failed, "last_error": self.last_error}


def _key(order: SubscriptionOrder) -> str:
    return f"charge:{order.id}:{order.attempts + 1}"


def _unrequested(after: int) -> Any:
    """Pending orders after id ``after`` whose current attempt was not asked for yet."""
    o, e = SubscriptionOrder, SubscriptionEvent
    key = literal("charge:") + cast(o.id, String) + ":" + cast(o.attempts + 1, String)
    asked = exists().where(and_(e.subscription_id == o.subscription_id, e.key == key))
    return select(o).where(o.status == "pending", o.id > after, ~asked).order_by(o.id).limit(_PAGE)


def _data(order: SubscriptionOrder, customer: str, now: datetime) -> dict[str, Any]:
    body = order_json(order)
    return {
        "order": {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in body.items()},
        "customer": customer,
        "attempt": order.attempts + 1,
        "requested_at": now.isoformat(),
        "report_to": "/api/v1/subscriptions/payments",
    }


def _record(session: Session, order_id: int, key: str, attempt: int, now: datetime) -> bool:
    """The request in the order's history; False when another worker recorded it first or
    the order is no longer waiting."""
    order = session.get(SubscriptionOrder, order_id, with_for_update=True)
    row = None if order is None else session.get(Subscription, order.subscription_id)
    if order is None or row is None or order.status != "pending":
        session.rollback()
        return False
    data = {"order": order_id, "attempt": attempt}
    log(session, row, "charge_requested", data, now=now, actor="retentio", key=key)
    try:
        session.commit()
    except IntegrityError:  # the key: another worker asked for this attempt meanwhile
        session.rollback()
        return False
    return True


def request_charges(session: Session, adapter: PaymentAdapter, *, now: datetime) -> ChargeRun:
    """Hand every pending order whose attempt was not asked for yet to ``adapter``, oldest
    first (see the module's docstring)."""
    run, after, failing = ChargeRun(), 0, 0
    while failing < _GIVE_UP_AFTER:
        query = _unrequested(after).join(
            Subscription, Subscription.id == SubscriptionOrder.subscription_id
        )
        page = session.execute(
            query.join(Customer, Customer.id == Subscription.customer_id).add_columns(
                Customer.external_id
            )
        ).all()
        waiting = [(order, customer, _key(order), order.attempts + 1) for order, customer in page]
        requests = [(o.id, k, a, ChargeRequest(k, _data(o, c, now))) for o, c, k, a in waiting]
        session.rollback()  # no transaction held while the provider answers
        if not requests:
            break
        for order_id, key, attempt, request in requests:
            after = order_id
            answer = adapter.request_charge(request)
            if not answer.accepted:
                run.failed, run.last_error = run.failed + 1, answer.detail[:300]
                failing += 1
                if failing >= _GIVE_UP_AFTER:
                    break
                continue
            failing = 0
            if _record(session, order_id, key, attempt, now):
                run.requested += 1
    return run
