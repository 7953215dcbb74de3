"""Number, money, date and period formatting for the report (English, locale-free)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import pandas as pd

from retentio.core.money import minor_unit_exponent

__all__ = [
    "KPI_SPECS",
    "MISSING",
    "KpiSpec",
    "format_compact",
    "format_count",
    "format_date",
    "format_days",
    "format_kpi",
    "format_money",
    "format_number",
    "format_percent",
    "is_missing",
    "period_label",
    "period_noun",
]

MISSING = "\u2014"
"""What a value that cannot be computed (NaN, None) shows as: an em dash."""

Kind = Literal["count", "money", "percent", "days", "number"]


@dataclass(frozen=True)
class KpiSpec:
    """How one KPI is labelled, explained, formatted and judged.

    ``trend`` says what the per-period sparkline shows (``{noun}`` becomes month, week, ...);
    ``higher_is_better`` colours the trend arrow (None: neither).
    """

    label: str
    kind: Kind
    explanation: str
    trend: str
    higher_is_better: bool | None


_STOCK = "as of each {noun}'s end"

KPI_SPECS: dict[str, KpiSpec] = {
    "customers": KpiSpec(
        "Customers", "count", "People with at least one purchase.", "buyers per {noun}", True
    ),
    "orders": KpiSpec(
        "Orders", "count", "Purchases, not counting refunds.", "orders per {noun}", True
    ),
    "revenue": KpiSpec(
        "Revenue", "money", "Net revenue: orders minus refunds.", "revenue per {noun}", True
    ),
    "repeat_purchase_rate": KpiSpec(
        "Repeat purchase rate", "percent", "Share of customers with two or more orders.",
        _STOCK, True,
    ),
    "churn_rate": KpiSpec(
        "Churn rate", "percent",
        "Share of customers with no purchase in the last {churn_days}.", _STOCK, False,
    ),
    "retention_rate": KpiSpec(
        "Retention rate", "percent",
        "Share of customers who bought in the last {churn_days} (100% − churn).",
        _STOCK, True,
    ),
    "avg_days_between_purchases": KpiSpec(
        "Average purchase gap", "days",
        "Mean days from a customer's purchase to their next one.",
        "per {noun}", False,
    ),
    "median_days_between_purchases": KpiSpec(
        "Median purchase gap", "days",
        "Half of all repeat purchases come sooner than this.",
        "per {noun}", False,
    ),
    "average_order_value": KpiSpec(
        "Average order value", "money", "Net revenue divided by orders.", "per {noun}", True
    ),
    "purchase_frequency": KpiSpec(
        "Purchase frequency", "number", "Orders per customer.",
        "within each {noun}", True,
    ),
    "historical_clv": KpiSpec(
        "Historical CLV", "money", "Net revenue per customer to date.", _STOCK, True
    ),
    "returning_customer_revenue_share": KpiSpec(
        "Returning revenue share", "percent",
        "Share of revenue from repeat orders (after a customer's first).", "per {noun}", True,
    ),
}  # fmt: skip


def is_missing(value: object) -> bool:
    """True for None, NaN, NaT and pandas NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def format_count(value: object) -> str:
    """A whole number with thousands separators: ``23,570``."""
    if is_missing(value):
        return MISSING
    return f"{round(float(value)):,}"  # type: ignore[arg-type]


def format_number(value: object, decimals: int = 2) -> str:
    """A number with ``decimals`` decimals and thousands separators."""
    if is_missing(value):
        return MISSING
    return f"{float(value):,.{decimals}f}"  # type: ignore[arg-type]


def format_percent(value: object, decimals: int = 1) -> str:
    """A share (0..1) as a percentage: ``0.1234`` -> ``12.3%``."""
    if is_missing(value):
        return MISSING
    return f"{float(value) * 100:.{decimals}f}%"  # type: ignore[arg-type]


def format_money(value: object, currency: str | None = None, *, compact: bool = False) -> str:
    """An amount in major units with the currency code: ``1,234.50 USD``.

    Decimals follow the currency's minor unit (ISO 4217). ``compact`` drops the decimals of
    amounts of 10,000 or more, where they are noise on a dashboard.
    """
    if is_missing(value):
        return MISSING
    amount = float(value)  # type: ignore[arg-type]
    decimals = minor_unit_exponent(currency) if currency else 2
    if compact and abs(amount) >= 10_000:
        decimals = 0
    text = f"{amount:,.{decimals}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]
    return f"{text} {currency}" if currency else text


def format_days(value: object) -> str:
    """A number of days: ``1 day``, ``42 days``, ``37.5 days``."""
    if is_missing(value):
        return MISSING
    days = float(value)  # type: ignore[arg-type]
    text = f"{days:,.0f}" if math.isclose(days, round(days), abs_tol=0.05) else f"{days:,.1f}"
    return f"{text} day" if text == "1" else f"{text} days"


def format_compact(value: object) -> str:
    """A short number for an axis tick: ``1500`` -> ``1.5k``, ``2000000`` -> ``2M``."""
    if is_missing(value):
        return MISSING
    x = float(value)  # type: ignore[arg-type]
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= limit:
            return f"{x / limit:.3g}{suffix}"
    return f"{x:.3g}"


def format_kpi(key: str, value: object, currency: str | None = None) -> str:
    """A KPI value formatted by its kind (see :data:`KPI_SPECS`)."""
    spec = KPI_SPECS.get(key)
    kind: Kind = spec.kind if spec else "number"
    if kind == "count":
        return format_count(value)
    if kind == "money":
        return format_money(value, currency, compact=True)
    if kind == "percent":
        return format_percent(value)
    if kind == "days":
        return format_days(value)
    return format_number(value)


def format_date(value: object) -> str:
    """A calendar date as ``YYYY-MM-DD``."""
    if is_missing(value):
        return MISSING
    if isinstance(value, datetime | pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(pd.Timestamp(str(value)).strftime("%Y-%m-%d"))


_NOUNS = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


def period_noun(period: str) -> str:
    """The English word for a period code: ``M`` -> ``month``."""
    return _NOUNS.get(period.upper(), "period")


def period_label(start: object, period: str) -> str:
    """A short label of the period that begins on ``start``: ``Jan 1997``, ``1997 Q1``."""
    if is_missing(start):
        return MISSING
    ts = pd.Timestamp(start)  # type: ignore[arg-type]
    key = period.upper()
    if key == "M":
        return ts.strftime("%b %Y")
    if key == "Q":
        return f"{ts.year} Q{(ts.month - 1) // 3 + 1}"
    if key == "Y":
        return str(ts.year)
    if key == "W":
        year, week, _ = ts.isocalendar()
        return f"{year}-W{week:02d}"
    return ts.strftime("%Y-%m-%d")
