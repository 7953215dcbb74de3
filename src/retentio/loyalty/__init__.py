"""Loyalty: the programme (earning on spend and actions, bonuses, tiers, rewards, referrals,
expiry), the points ledger, and the use cases on it (docs/loyalty.md)."""

from retentio.loyalty.accounts import Balance, InsufficientPoints, Posted
from retentio.loyalty.earning import Line
from retentio.loyalty.events import LOYALTY_EVENTS
from retentio.loyalty.expiry import ExpiryRun, expire_points
from retentio.loyalty.ledger import (
    LimitReached,
    adjust_points,
    balance_of,
    earn_for_action,
    earn_for_order,
    redeem_points,
    release_due,
    reverse_for_refund,
)
from retentio.loyalty.programme import (
    Programme,
    ProgrammeError,
    order_points,
    parse_programme,
    refund_points,
)
from retentio.loyalty.tiering import review_tiers

__all__ = [
    "LOYALTY_EVENTS",
    "Balance",
    "ExpiryRun",
    "InsufficientPoints",
    "LimitReached",
    "Line",
    "Posted",
    "Programme",
    "ProgrammeError",
    "adjust_points",
    "balance_of",
    "earn_for_action",
    "earn_for_order",
    "expire_points",
    "order_points",
    "parse_programme",
    "redeem_points",
    "refund_points",
    "release_due",
    "reverse_for_refund",
    "review_tiers",
]
