"""The fields a segment condition can test, and the operators each kind of field takes.

A field is read from the customer row (``customer``), the customer's ``attributes`` JSON
(``attributes.<key>``), their orders (``orders``: aggregated over the orders that are not
cancelled or pending, as the analytics count them), their stored scores (``scores``: the
last ``retentio scores refresh``), their loyalty account (``loyalty``: unset for a customer
without one), the preferences they stated (``preferences``: unset when not stated; a list
such as ``topics`` is tested with ``contains``) or the surveys they answered (``feedback``:
their latest NPS and CSAT answers; unset without one). Pure data: the SQL for each lives in
``segments.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from retentio.analytics import NPS_CATEGORIES
from retentio.analytics import SEGMENTS as RFM_SEGMENTS
from retentio.models.risk import RISK_BANDS

__all__ = ["ATTRIBUTE_PREFIX", "FIELDS", "KIND_OPERATORS", "Field", "Kind", "Source", "source_of"]

Kind = Literal["text", "number", "integer", "money", "days", "time", "presence", "any", "list"]
Source = Literal["customer", "attributes", "orders", "scores", "loyalty", "preferences", "feedback"]

#: ``attributes.<key>`` tests a key of the customer's attributes JSON.
ATTRIBUTE_PREFIX = "attributes."

_ORDERED = ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "not_in", "exists")
#: The operators of each kind of field.
KIND_OPERATORS: dict[Kind, tuple[str, ...]] = {
    "text": ("eq", "ne", "in", "not_in", "exists"),
    "number": _ORDERED,
    "integer": _ORDERED,
    "money": ("eq", "ne", "lt", "lte", "gt", "gte", "between", "exists"),
    "days": ("eq", "ne", "lt", "lte", "gt", "gte", "between", "exists"),
    "time": ("before", "after", "exists"),
    "presence": ("exists",),
    "any": _ORDERED,  # attributes: compared as text, numbers or true/false
    "list": ("contains", "exists"),  # a stated list (topics): holds the value, or was stated
}


@dataclass(frozen=True, slots=True)
class Field:
    """One testable field: where it comes from, what kind of value it holds, what it means."""

    name: str
    source: Source
    kind: Kind
    help: str
    #: The only values a text field can hold (a typo in a definition is an error), if closed.
    choices: tuple[str, ...] = ()


def _fields(*fields: Field) -> dict[str, Field]:
    return {field.name: field for field in fields}


FIELDS: dict[str, Field] = _fields(
    Field("external_id", "customer", "text", "the shop's customer id"),
    Field("email", "customer", "presence", "an e-mail address is stored"),
    Field("phone", "customer", "presence", "a phone number is stored"),
    Field("first_name", "customer", "presence", "a first name is stored"),
    Field("locale", "customer", "text", "the customer's locale, e.g. da-DK"),
    Field("time_zone", "customer", "text", "the customer's IANA time zone"),
    Field("country", "customer", "text", "ISO 3166 country code, e.g. DK"),
    Field("created_at", "customer", "time", "when the customer was first stored"),
    Field("order_count", "orders", "integer", "orders placed (not cancelled or pending)"),
    Field("total_spend", "orders", "money", "order totals less refunds, in `currency`"),
    Field("average_order_value", "orders", "money", "total_spend / orders in `currency`"),
    Field("first_order_at", "orders", "time", "when the first order was placed"),
    Field("last_order_at", "orders", "time", "when the latest order was placed"),
    Field("days_since_first_order", "orders", "days", "whole days since the first order"),
    Field("days_since_last_order", "orders", "days", "whole days since the latest order"),
    Field(
        "average_days_between_orders",
        "orders",
        "number",
        "(latest - first order) / (orders - 1), in days; unset below two orders",
    ),
    Field(
        "overdue_ratio",
        "orders",
        "number",
        "days since the latest order / average_days_between_orders: 2 is twice the "
        "customer's own usual gap (win-back); unset below two orders",
    ),
    Field("rfm_segment", "scores", "text", "RFM segment, e.g. At risk", RFM_SEGMENTS),
    Field("rfm_score", "scores", "text", "R, F and M quintiles, e.g. 545"),
    Field("p_alive", "scores", "number", "probability the customer is still active (0-1)"),
    Field("churn_risk", "scores", "number", "1 - p_alive"),
    Field(
        "risk_band",
        "scores",
        "text",
        "churn-risk band: low, medium, high, critical",
        tuple(name for name, _ in RISK_BANDS),
    ),
    Field("expected_purchases", "scores", "number", "expected purchases in the horizon"),
    Field("clv", "scores", "number", "predicted value in the horizon, in major units"),
    Field("loyalty_tier", "loyalty", "text", "the loyalty tier held, e.g. Gold"),
    Field("loyalty_points", "loyalty", "integer", "loyalty points available to spend"),
    Field("loyalty_pending_points", "loyalty", "integer", "points in the return window"),
    Field(
        "loyalty_points_expiring",
        "loyalty",
        "integer",
        "points that expire within the first reminder window (30 days), as of the last expiry run",
    ),
    Field(
        "loyalty_points_expire_at",
        "loyalty",
        "time",
        "when the first of loyalty_points_expiring expire",
    ),
    # The preferences the customer stated (retentio.feedback, which segments may not import:
    # its channel and frequency names are checked against these in the tests).
    Field(
        "preferred_channel",
        "preferences",
        "text",
        "the channel the customer prefers (stated)",
        ("email", "sms", "push", "in_app"),
    ),
    Field(
        "frequency",
        "preferences",
        "text",
        "how often the customer wants marketing (stated)",
        ("as_it_happens", "weekly", "monthly"),
    ),
    Field("topics", "preferences", "list", "the topics the customer chose: {contains: offers}"),
    Field("favourite_categories", "preferences", "list", "the favourite categories stated"),
    Field(
        "snoozed_until",
        "preferences",
        "time",
        "the last day of the customer's marketing snooze, compared by date (before: ended "
        "before that day; after: lasts at least until that day)",
    ),
    # The surveys the customer answered (retentio.feedback): the latest answer of each kind.
    Field("nps_score", "feedback", "integer", "the score of the latest NPS answer (0-10)"),
    Field(
        "nps_category",
        "feedback",
        "text",
        "the latest NPS answer's category: promoter (9-10), passive (7-8), detractor (0-6)",
        NPS_CATEGORIES,
    ),
    Field("csat_score", "feedback", "integer", "the score of the latest CSAT answer (1-5)"),
    Field("last_survey_answer_at", "feedback", "time", "when the customer last answered a survey"),
    Field(
        "days_since_last_survey_answer",
        "feedback",
        "days",
        "whole days since the customer last answered a survey (of any kind)",
    ),
)


def source_of(name: str) -> Source:
    """Where field ``name`` (or ``attributes.<key>``) is read from; KeyError if unknown."""
    return "attributes" if name.startswith(ATTRIBUTE_PREFIX) else FIELDS[name].source
