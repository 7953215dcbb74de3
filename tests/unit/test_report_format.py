"""retentio.reporting.format: the numbers a marketer reads in the report."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from retentio.analytics import KPI_KEYS
from retentio.reporting.format import (
    KPI_SPECS,
    MISSING,
    format_compact,
    format_count,
    format_date,
    format_days,
    format_kpi,
    format_money,
    format_percent,
    period_label,
    period_noun,
)

NAN = float("nan")


def test_every_kpi_has_a_spec() -> None:
    assert set(KPI_SPECS) == set(KPI_KEYS)
    for spec in KPI_SPECS.values():
        assert spec.label and spec.explanation.endswith(".")
        assert "{noun}" in spec.trend


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("customers", 2357, "2,357"),
        ("orders", 6919.0, "6,919"),
        ("revenue", 244091.93999, "244,092 USD"),
        ("average_order_value", 35.2784997, "35.28 USD"),
        ("historical_clv", 103.5604, "103.56 USD"),
        ("repeat_purchase_rate", 0.48875, "48.9%"),
        ("churn_rate", 0.0, "0.0%"),
        ("retention_rate", 1.0, "100.0%"),
        ("avg_days_between_purchases", 70.86, "70.9 days"),
        ("median_days_between_purchases", 34.0, "34 days"),
        ("median_days_between_purchases", 1.0, "1 day"),
        ("purchase_frequency", 2.93551, "2.94"),
        ("returning_customer_revenue_share", 0.68587, "68.6%"),
        ("churn_rate", NAN, MISSING),
        ("revenue", None, MISSING),
    ],
)
def test_format_kpi(key: str, value: float | None, expected: str) -> None:
    assert format_kpi(key, value, "USD") == expected


def test_money_follows_the_currency_minor_unit() -> None:
    assert format_money(1234.5, "EUR") == "1,234.50 EUR"
    assert format_money(1234.5, "JPY") == "1,234 JPY"  # banker's rounding of .5 by format
    assert format_money(1.2345, "KWD") == "1.234 KWD"
    assert format_money(12.5) == "12.50"
    assert format_money(-0.001, "EUR") == "0.00 EUR"  # no "-0.00"
    assert format_money(-12_345.6, "EUR", compact=True) == "-12,346 EUR"
    assert format_money(9_999.5, "EUR", compact=True) == "9,999.50 EUR"


def test_counts_percent_days_and_compact() -> None:
    assert format_count(1_234_567) == "1,234,567"
    assert format_count(pd.NA) == MISSING
    assert format_percent(0.1234) == "12.3%"
    assert format_percent(0.1234, 0) == "12%"
    assert format_days(37.5) == "37.5 days"
    assert format_days(0) == "0 days"
    assert [format_compact(v) for v in (0, 12, 1500, 50_000, 2_000_000, 3.2e9)] == [
        "0", "12", "1.5k", "50k", "2M", "3.2B",
    ]  # fmt: skip
    assert format_compact(NAN) == MISSING


def test_dates_and_periods() -> None:
    assert format_date(date(1998, 6, 30)) == "1998-06-30"
    assert format_date(datetime(1998, 6, 30, 23, 59)) == "1998-06-30"
    assert format_date(pd.Timestamp("1998-06-30")) == "1998-06-30"
    assert format_date(None) == MISSING
    start = pd.Timestamp("1997-01-01")
    assert period_label(start, "M") == "Jan 1997"
    assert period_label(start, "Q") == "1997 Q1"
    assert period_label(pd.Timestamp("1997-07-01"), "q") == "1997 Q3"
    assert period_label(start, "Y") == "1997"
    assert period_label(pd.Timestamp("1996-12-30"), "W") == "1997-W01"  # ISO week
    assert period_label(start, "D") == "1997-01-01"
    assert [period_noun(p) for p in "DWMQY"] == ["day", "week", "month", "quarter", "year"]
