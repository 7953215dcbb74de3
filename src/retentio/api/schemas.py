"""The API's response shapes (pydantic v2), kept apart from the ingestion schemas they answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "BatchResultOut",
    "CustomerOut",
    "CustomerPage",
    "CustomerProfile",
    "HealthOut",
    "ItemErrorOut",
    "KpisOut",
    "OrderLineOut",
    "OrderOut",
    "OrderPage",
    "RefundOut",
    "ScoresOut",
    "TotalsOut",
    "TrackedOut",
]


class HealthOut(BaseModel):
    """The server and its database are up."""

    status: str = Field(examples=["ok"])
    database: str = Field(examples=["ok"])
    revision: str | None
    version: str


class ItemErrorOut(BaseModel):
    """One refused item of a batch."""

    index: int = Field(description="0-based position of the item in `items`.")
    field: str
    message: str


class BatchResultOut(BaseModel):
    """What a batch upsert did."""

    received: int
    created: int
    updated: int
    failed: int
    errors: list[ItemErrorOut]


class TrackedOut(BaseModel):
    """A tracked event."""

    created: bool = Field(description="False when an event with this external_id existed.")


class CustomerOut(BaseModel):
    """A customer as stored."""

    external_id: str
    email: str | None
    phone: str | None
    first_name: str | None
    locale: str | None
    time_zone: str | None
    country: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    erased: bool


class RefundOut(BaseModel):
    """Money returned on an order."""

    external_id: str | None
    refunded_at: datetime
    amount_minor: int


class OrderLineOut(BaseModel):
    """One line of an order."""

    line_no: int
    sku: str | None
    name: str | None
    quantity: int
    amount_minor: int


class OrderOut(BaseModel):
    """An order; amounts in the currency's minor units."""

    external_id: str
    ordered_at: datetime
    currency: str
    total_minor: int
    status: str
    lines: list[OrderLineOut]
    refunds: list[RefundOut]


class TotalsOut(BaseModel):
    """The customer's purchase history in one currency."""

    currency: str
    orders: int
    revenue_minor: int = Field(description="Order totals before refunds.")
    refunded_minor: int
    net_revenue_minor: int
    average_order_value_minor: int | None
    first_order_at: datetime | None
    last_order_at: datetime | None
    avg_days_between_orders: float | None


class ScoresOut(BaseModel):
    """Model-based scores, computed over the whole store as of ``observation_end``."""

    observation_end: date
    computed_at: datetime
    horizon: str
    recency_days: int | None = None
    frequency: int | None = None
    monetary: float | None = None
    rfm_score: str | None = None
    segment: str | None = None
    p_alive: float | None = None
    churn_risk: float | None = None
    risk_band: str | None = None
    expected_purchases: float | None = None
    clv: float | None = None
    note: str | None = None


class CustomerProfile(BaseModel):
    """A customer with their orders' totals, latest orders and scores."""

    customer: CustomerOut
    totals: list[TotalsOut]
    recent_orders: list[OrderOut]
    scores: ScoresOut | None


class CustomerPage(BaseModel):
    """A page of customers; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[CustomerOut]
    next_cursor: str | None


class OrderPage(BaseModel):
    """A page of orders; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[OrderOut]
    next_cursor: str | None


class KpisOut(BaseModel):
    """The headline KPIs, with their monthly trend."""

    observation_end: date
    kpis: dict[str, float | int | None]
    trend: dict[str, str]
    monthly: list[dict[str, Any]]
