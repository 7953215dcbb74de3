"""Loyalty: the programme's configuration and the points ledger (issue 6; tiers, rewards,
referrals, the API and the CLI follow)."""

from retentio.loyalty.ledger import (
    Balance,
    InsufficientPoints,
    Posted,
    adjust_points,
    balance_of,
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

__all__ = [
    "Balance",
    "InsufficientPoints",
    "Posted",
    "Programme",
    "ProgrammeError",
    "adjust_points",
    "balance_of",
    "earn_for_order",
    "order_points",
    "parse_programme",
    "redeem_points",
    "refund_points",
    "release_due",
    "reverse_for_refund",
]
