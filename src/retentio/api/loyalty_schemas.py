"""The loyalty API's bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from retentio.ingest.models import NO_NUL

__all__ = [
    "AdjustIn",
    "CouponOut",
    "CouponUseIn",
    "EarnIn",
    "LineIn",
    "MemberOut",
    "PostedOut",
    "ProgrammeOut",
    "RedeemIn",
    "RefundIn",
]

_MONEY = Field(default=None, description="In major units, as text, e.g. '49.00'.")
_KEY = Field(
    default=None,
    max_length=250,
    description="Once per key; default: the Idempotency-Key.",
    pattern=NO_NUL,
)


class LineIn(BaseModel):
    """An order line: its net amount, product and category (exclusions and multipliers)."""

    model_config = ConfigDict(extra="forbid")

    amount: str = Field(description="The line's net amount, e.g. '199.00'.")
    product: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    category: str | None = Field(default=None, max_length=200, pattern=NO_NUL)


class EarnIn(BaseModel):
    """Points for an order (``order_id``, pending for the return window, once per order) or
    for an action (``action``, available at once, once per key, within its limit)."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(max_length=200, description="The customer's external id.", pattern=NO_NUL)
    order_id: str | None = Field(
        default=None, max_length=200, description="Once per order.", pattern=NO_NUL
    )
    amount: str | None = Field(
        default=None, description="The order's total, e.g. '499.00'.", examples=["499.00"]
    )
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, examples=["DKK"], pattern=NO_NUL
    )
    ordered_at: AwareDatetime | None = None
    shipping: str | None = _MONEY
    tax: str | None = _MONEY
    lines: list[LineIn] = Field(default_factory=list, max_length=1000)
    action: str | None = Field(
        default=None,
        max_length=100,
        description="An action of the programme, e.g. review.",
        pattern=NO_NUL,
    )
    key: str | None = _KEY
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When the action happened (not in the future)."
    )
    note: str | None = Field(default=None, max_length=500, pattern=NO_NUL)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.order_id is None) == (self.action is None):
            raise ValueError("give order_id (an order) or action (an action), not both")
        if self.order_id is not None:
            missing = [
                name for name in ("amount", "currency", "ordered_at") if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"an order needs {', '.join(missing)}")
        return self


class RedeemIn(BaseModel):
    """Spend ``points``, or redeem a ``reward`` of the catalogue for a coupon."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(max_length=200, pattern=NO_NUL)
    points: int | None = Field(default=None, gt=0, le=1_000_000_000)
    reward: str | None = Field(
        default=None, max_length=100, description="A reward's id.", pattern=NO_NUL
    )
    key: str | None = _KEY
    note: str | None = Field(default=None, max_length=500, pattern=NO_NUL)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.points is None) == (self.reward is None):
            raise ValueError("give points or reward, not both")
        return self


class AdjustIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(max_length=200, pattern=NO_NUL)
    points: int = Field(ge=-1_000_000_000, le=1_000_000_000, description="Not 0.")
    reason: str = Field(min_length=1, max_length=500, pattern=NO_NUL)
    key: str | None = Field(default=None, max_length=250, pattern=NO_NUL)


class RefundIn(BaseModel):
    """A refund or return of an order that earned points: its share of them comes back."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(max_length=200, pattern=NO_NUL)
    order_id: str = Field(
        max_length=200, description="The order, as it earned its points.", pattern=NO_NUL
    )
    refund_id: str = Field(
        max_length=200, description="The shop's refund id (once per refund).", pattern=NO_NUL
    )
    amount: str = Field(description="The order's total, as sent to /earn, e.g. '499.00'.")
    refunded: str = Field(description="Everything refunded of the order so far, e.g. '200.00'.")
    currency: str = Field(min_length=3, max_length=3, examples=["DKK"], pattern=NO_NUL)


class CouponUseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(
        min_length=1, max_length=200, description="The order it was used on.", pattern=NO_NUL
    )


class CouponOut(BaseModel):
    code: str
    reward: str
    customer: str
    points: int
    entry_id: int = Field(description="The redeem entry that spent the points.")
    value: dict[str, Any]
    status: str = Field(description="issued, used or cancelled.")
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    cancelled_at: datetime | None
    order_id: str | None
    repeated: bool
    balance: dict[str, Any] | None


class PostedOut(BaseModel):
    entry_id: int | None = Field(description="None when nothing changed (a refund of nothing).")
    kind: str
    points: int
    pending_points: int
    repeated: bool = Field(description="True when the key was applied before: nothing changed.")
    balance: dict[str, Any]
    coupon: CouponOut | None = Field(default=None, description="A redeemed reward's coupon.")


class MemberOut(BaseModel):
    customer: str
    available: int
    pending: int
    earned: int
    tier: dict[str, Any] | None = Field(description="The tier held and the progress to the next.")
    expiring: dict[str, Any] = Field(description="Points expiring soon, and when the first do.")
    referral: dict[str, Any] = Field(description="The member's referral code and link.")
    history: list[dict[str, Any]] = Field(description="The newest entries first.")


class ProgrammeOut(BaseModel):
    version: int | None = Field(description="None: no version saved, the defaults apply.")
    definition: dict[str, Any]
    versions: list[dict[str, Any]]
