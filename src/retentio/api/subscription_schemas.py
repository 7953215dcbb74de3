"""The subscription API's bodies."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retentio.ingest.models import NO_NUL

__all__ = [
    "CadenceIn",
    "CancelIn",
    "ChangeIn",
    "ItemIn",
    "PauseIn",
    "PaymentIn",
    "ResumeIn",
    "SkipIn",
    "SubscriptionIn",
    "SubscriptionOut",
    "SwapIn",
]

_KEY = Field(
    default=None,
    max_length=250,
    pattern=NO_NUL,
    description="Once per key; default: the Idempotency-Key header.",
)
_PRODUCT = Field(min_length=1, max_length=200, pattern=NO_NUL)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CadenceIn(_Body):
    unit: Literal["day", "week", "month"]
    count: int = Field(ge=1, le=365)


class ItemIn(_Body):
    product: str = _PRODUCT
    quantity: int = Field(default=1, ge=1, le=1000)
    price: str = Field(description="Each, in major units, e.g. '120.00'.", max_length=30)


class SubscriptionIn(_Body):
    customer: str = Field(max_length=200, pattern=NO_NUL, description="The customer's external id.")
    items: list[ItemIn] = Field(min_length=1, max_length=100)
    cadence: CadenceIn
    currency: str = Field(min_length=3, max_length=3, pattern=NO_NUL, examples=["DKK"])
    first_order_on: date | None = Field(
        default=None, description="Default: one cadence from today."
    )
    max_cycles: int | None = Field(default=None, ge=1, le=1000)
    external_id: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    key: str | None = _KEY


class PauseIn(_Body):
    until: date | None = Field(default=None, description="Resume on this local date.")
    cycles: int | None = Field(default=None, ge=1, le=12, description="Or pause N orders.")
    starting: date | None = Field(default=None, description="Pause from this later date.")
    key: str | None = _KEY


class ResumeIn(_Body):
    on: date | None = Field(default=None, description="Resume on this later date; default now.")
    key: str | None = _KEY


class SkipIn(_Body):
    on: date | None = Field(default=None, description="The order date to skip; default the next.")
    key: str | None = _KEY


class SwapIn(_Body):
    product: str = _PRODUCT
    to: str = _PRODUCT
    price: str | None = Field(default=None, max_length=30, description="Default: the same price.")
    key: str | None = _KEY


class ChangeIn(_Body):
    quantities: dict[str, int] | None = Field(default=None, description="Product: quantity.")
    cadence: CadenceIn | None = None
    next_order_on: date | None = None
    key: str | None = _KEY


class CancelIn(_Body):
    reason: str = Field(max_length=50, pattern=NO_NUL, description="A reason code of the policy.")
    note: str | None = Field(default=None, max_length=1000, pattern=NO_NUL)
    accept: str | None = Field(default=None, description="Take this offer instead.")
    swap_from: str | None = Field(
        default=None,
        max_length=200,
        pattern=NO_NUL,
        description="For a swap: the product replaced (needed when there are several).",
    )
    swap_to: str | None = Field(
        default=None, max_length=200, pattern=NO_NUL, description="For a swap: the new product."
    )
    confirm: bool = Field(default=False, description="Cancel (the offers shown declined).")
    key: str | None = _KEY


class PaymentIn(_Body):
    order: int = Field(ge=1, le=2**63 - 1, description="The subscription order's id.")
    outcome: Literal["succeeded", "failed"]
    reference: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    reason: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    key: str | None = _KEY


class SubscriptionOut(BaseModel):
    id: int
    external_id: str | None
    customer: str | None
    status: str
    currency: str
    cadence: dict[str, Any]
    time_zone: str
    next_order_on: date | None
    pause_until: date | None
    pause_from: date | None
    skipped: list[str]
    items: list[dict[str, Any]]
    next_amount: str
    discount: dict[str, Any] | None
    cycle: int
    max_cycles: int | None
    created_at: Any
    cancelled_at: Any
    cancel_reason: str | None
    repeated: bool
