"""Subscriptions customers adjust instead of cancelling: pause, resume, skip, swap, change,
order now; a cancellation flow with save offers; renewals once per cycle; payments with
dunning (docs/subscriptions.md)."""

from retentio.subscriptions.actions import (
    change_subscription,
    order_now,
    pause_subscription,
    resume_subscription,
    skip_order,
    swap_product,
)
from retentio.subscriptions.cancellation import CancelOutcome, cancel_subscription, offers_for
from retentio.subscriptions.links import SUBSCRIPTION_LINK_TTL, subscription_link
from retentio.subscriptions.payments import (
    PAYMENT_OUTCOMES,
    PaymentRecorded,
    record_payment,
    retries_due,
)
from retentio.subscriptions.policy import Policy, PolicyError, parse_policy
from retentio.subscriptions.records import (
    JOURNEY_EVENTS,
    SubscriptionStateError,
    SubscriptionView,
)
from retentio.subscriptions.renewals import RenewalRun, renew_due
from retentio.subscriptions.schedule import UNITS, Cadence
from retentio.subscriptions.service import (
    configure_policy,
    create_subscription,
    current_policy,
    get_subscription,
    list_subscriptions,
    subscription_history,
    subscription_orders,
)

__all__ = [
    "JOURNEY_EVENTS",
    "PAYMENT_OUTCOMES",
    "SUBSCRIPTION_LINK_TTL",
    "UNITS",
    "Cadence",
    "CancelOutcome",
    "PaymentRecorded",
    "Policy",
    "PolicyError",
    "RenewalRun",
    "SubscriptionStateError",
    "SubscriptionView",
    "cancel_subscription",
    "change_subscription",
    "configure_policy",
    "create_subscription",
    "current_policy",
    "get_subscription",
    "list_subscriptions",
    "offers_for",
    "order_now",
    "parse_policy",
    "pause_subscription",
    "record_payment",
    "renew_due",
    "resume_subscription",
    "retries_due",
    "skip_order",
    "subscription_history",
    "subscription_link",
    "subscription_orders",
    "swap_product",
]
