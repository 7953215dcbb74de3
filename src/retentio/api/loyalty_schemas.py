"""The loyalty API's bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AdjustIn", "EarnIn", "MemberOut", "PostedOut", "RedeemIn"]


class EarnIn(BaseModel):
    """An order's points: pending for the return window, once per order."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(max_length=200, description="The customer's external id.")
    order_id: str = Field(max_length=200, description="The shop's order id (once per order).")
    amount: str = Field(description="The order's net amount, e.g. '499.00'.", examples=["499.00"])
    currency: str = Field(min_length=3, max_length=3, examples=["DKK"])
    ordered_at: datetime


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(max_length=200)
    points: int = Field(gt=0, le=1_000_000_000)
    key: str | None = Field(
        default=None, max_length=250, description="Once per key; default: the Idempotency-Key."
    )
    note: str | None = Field(default=None, max_length=500)


class AdjustIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(max_length=200)
    points: int = Field(ge=-1_000_000_000, le=1_000_000_000, description="Not 0.")
    reason: str = Field(min_length=1, max_length=500)
    key: str | None = Field(default=None, max_length=250)


class PostedOut(BaseModel):
    entry_id: int
    kind: str
    points: int
    pending_points: int
    repeated: bool = Field(description="True when the key was applied before: nothing changed.")
    balance: dict[str, Any]


class MemberOut(BaseModel):
    customer: str
    available: int
    pending: int
    earned: int
    history: list[dict[str, Any]] = Field(description="The newest entries first.")
