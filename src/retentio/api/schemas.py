"""The API's response shapes (pydantic v2), kept apart from the ingestion schemas they answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditOut",
    "AuditPage",
    "BatchResultOut",
    "ConsentIn",
    "ConsentOut",
    "ConsentTextIn",
    "ConsentTextOut",
    "CustomerOut",
    "CustomerPage",
    "CustomerProfile",
    "ErasureOut",
    "HealthOut",
    "ItemErrorOut",
    "KpisOut",
    "MessageOut",
    "OptInIn",
    "OptInOut",
    "OrderLineOut",
    "OrderOut",
    "OrderPage",
    "RefundOut",
    "ScoresOut",
    "TotalsOut",
    "TrackedOut",
    "WithdrawIn",
    "WithdrawalLinkOut",
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


class ConsentOut(BaseModel):
    """A customer's current consent for one channel and purpose."""

    customer: str
    channel: str
    purpose: str
    status: str = Field(description="granted, pending (awaiting double opt-in) or withdrawn.")
    granted: bool
    lawful_basis: str | None
    confirmed_at: datetime | None
    updated_at: datetime | None


class ConsentIn(BaseModel):
    """A grant or withdrawal to record, with its evidence."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(examples=["email"])
    purpose: str = Field(examples=["marketing"])
    granted: bool
    lawful_basis: str = Field(default="consent", description="consent or soft_opt_in.")
    source: str = Field(default="api", description="form, import, api, pos, ...")
    source_detail: str | None = Field(default=None, max_length=500, examples=["https://shop/"])
    text_version: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=35)
    ip_address: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=500)


class OptInIn(BaseModel):
    """Start a double opt-in for e-mail marketing."""

    model_config = ConfigDict(extra="forbid")

    text_version: str = Field(max_length=40, examples=["retentio-1"])
    language: str = Field(max_length=35, examples=["da"])
    source: str = Field(default="form")
    source_detail: str | None = Field(default=None, max_length=500)
    ip_address: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=500)


class MessageOut(BaseModel):
    """A message to send (no advertising in a confirmation)."""

    language: str
    subject: str
    body: str


class OptInOut(BaseModel):
    """A started double opt-in: send ``message`` (it holds ``confirm_url``) to the customer."""

    token: str
    expires_at: datetime
    confirm_url: str
    consent: ConsentOut
    message: MessageOut


class WithdrawIn(BaseModel):
    """Withdraw a consent."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    purpose: str


class WithdrawalLinkOut(BaseModel):
    """A signed link that withdraws a consent in one click, without login."""

    token: str
    url: str


class ErasureOut(BaseModel):
    """What an erasure did; ``customer`` is the pseudonym the customer row now carries."""

    customer: str
    erased_at: datetime
    already_erased: bool
    events_deleted: int
    consent_events_scrubbed: int
    consents_withdrawn: int
    confirmations_deleted: int
    orders_kept: int
    order_lines_scrubbed: int
    suppressions_added: int
    idempotency_keys_scrubbed: int
    derived_deleted: int = Field(description="Stored scores and segment memberships deleted.")
    deliveries_scrubbed: int = Field(
        description="Messages whose server answers were emptied (queued ones are skipped)."
    )


class AuditOut(BaseModel):
    """Who read or changed which person's data, when."""

    id: int
    occurred_at: datetime
    actor: str
    action: str
    customer: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of audit entries, oldest first."""

    items: list[AuditOut]
    next_cursor: str | None


class ConsentTextOut(BaseModel):
    """A published consent text."""

    id: int
    version: str
    language: str
    channel: str
    purpose: str
    text: str
    published_at: datetime | None


class ConsentTextIn(BaseModel):
    """A consent text to publish."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(max_length=40)
    language: str = Field(max_length=35)
    channel: str = Field(max_length=20)
    purpose: str = Field(max_length=20)
    text: str = Field(min_length=1, max_length=10_000)


class SegmentIn(BaseModel):
    """A segment definition (docs/segments.md): a name and the condition its members meet."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", examples=["lapsing-buyers"])
    description: str = Field(default="", max_length=2000)
    currency: str | None = Field(
        default=None, pattern=r"^[A-Za-z]{3}$", description="For spend conditions."
    )
    where: dict[str, Any] = Field(
        description="One condition: {all|any: [...]}, {not: ...}, {event: {...}}, "
        "{consent: {...}} or {<field>: {<operator>: value}}.",
        examples=[{"all": [{"order_count": {"gte": 2}}, {"p_alive": {"lt": 0.4}}]}],
    )


class SegmentOut(BaseModel):
    """A saved segment and its last refresh."""

    name: str
    description: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None
    members: int = Field(description="Members at the last refresh.")


class SegmentCountOut(BaseModel):
    """How many customers are in the segment now (evaluated at the request)."""

    segment: str
    members: int
    scores_computed_at: datetime | None = Field(
        description="When the stored scores that score conditions test were computed."
    )


class SegmentPreviewOut(SegmentCountOut):
    """The count and the first members by customer id, with the values of the tested fields."""

    rows: list[dict[str, Any]]


class SegmentRefreshOut(BaseModel):
    """What a refresh changed."""

    segment: str
    entered: int
    exited: int
    members: int
    refreshed_at: datetime


class SegmentMemberOut(BaseModel):
    """A member at the segment's last refresh."""

    external_id: str
    entered_at: datetime


class SegmentMemberPage(BaseModel):
    """A page of members; ``next_cursor`` is null on the last page."""

    items: list[SegmentMemberOut]
    next_cursor: str | None
