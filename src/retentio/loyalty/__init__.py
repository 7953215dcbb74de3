"""Loyalty: the programme (earning on spend and actions, bonuses, tiers, rewards, referrals,
expiry), the points ledger, and the use cases on it (docs/loyalty.md)."""

from retentio.loyalty.accounts import Balance, InsufficientPoints, LoyaltyConflict, Posted
from retentio.loyalty.backfill import BackfillResult, backfill_orders
from retentio.loyalty.coupons import (
    Coupon,
    CouponStateError,
    RewardUnavailable,
    cancel_coupon,
    coupon_by_code,
    redeem_reward,
    rewards_for,
    use_coupon,
)
from retentio.loyalty.earning import Line
from retentio.loyalty.events import LOYALTY_EVENTS
from retentio.loyalty.expiry import ExpiryRun, expire_points
from retentio.loyalty.jobs import LoyaltyRun, run_loyalty_jobs
from retentio.loyalty.ledger import (
    LimitReached,
    OrderConflict,
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
from retentio.loyalty.referrals import (
    Referral,
    ReferralConflict,
    complete_referrals,
    list_referrals,
    refer,
    referral_code,
    review_referral,
)
from retentio.loyalty.service import (
    configure_programme,
    current_programme,
    member_profile,
    programme_versions,
)
from retentio.loyalty.store_orders import StoreSync, sync_store_orders
from retentio.loyalty.tiering import review_tiers

__all__ = [
    "LOYALTY_EVENTS",
    "BackfillResult",
    "Balance",
    "Coupon",
    "CouponStateError",
    "ExpiryRun",
    "InsufficientPoints",
    "LimitReached",
    "Line",
    "LoyaltyConflict",
    "LoyaltyRun",
    "OrderConflict",
    "Posted",
    "Programme",
    "ProgrammeError",
    "Referral",
    "ReferralConflict",
    "RewardUnavailable",
    "StoreSync",
    "adjust_points",
    "backfill_orders",
    "balance_of",
    "cancel_coupon",
    "complete_referrals",
    "configure_programme",
    "coupon_by_code",
    "current_programme",
    "earn_for_action",
    "earn_for_order",
    "expire_points",
    "list_referrals",
    "member_profile",
    "order_points",
    "parse_programme",
    "programme_versions",
    "redeem_points",
    "redeem_reward",
    "refer",
    "referral_code",
    "refund_points",
    "release_due",
    "reverse_for_refund",
    "review_referral",
    "review_tiers",
    "rewards_for",
    "run_loyalty_jobs",
    "sync_store_orders",
    "use_coupon",
]
