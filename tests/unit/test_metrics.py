"""Every metric on a tiny hand-made shop, against numbers worked out by hand.

The shop (all times UTC, observation end 2024-04-30; day numbers are days of 2024, Jan 1 = 1,
2024 is a leap year so Mar 1 = 61, Apr 1 = 92, Apr 30 = 121):

=====  ========  ================  ======  =======================================
cust.  order     ordered at        amount  note
=====  ========  ================  ======  =======================================
A      a1        Jan  5 10:00 (5)     100
A      a2        Jan 20 11:00 (20)     50
A      a3        Feb 10 09:00 (41)     80
A      a4        Apr 10 16:00 (101)    40
A      a5        May 10 23:30 (131)   999  after the observation end
B      b1        Jan 10 08:00 (10)    200
B      b2        Mar 15 12:00 (75)     60
B      b2        Apr  2 10:00 (93)    -20  refund of b2 (net b2 = 40)
C      c1        Feb  1 10:00 (32)     30  two orders on one day
C      c2        Feb  1 15:00 (32)     20
C      c3        Feb 15 13:00 (46)     40
D      d1        Mar  1 00:30 (61)     70
E      e1        Jan 25 19:00 (25)     25
E      e2        Feb  5 07:00 (36)     35
E      e3        Mar  5 22:00 (65)     45
E      e4        Apr 20 12:00 (111)    55
=====  ========  ================  ======  =======================================

Up to Apr 30: 14 orders, gross 270 (A) + 260 (B) + 90 (C) + 70 (D) + 160 (E) = 850,
refunded 20, net revenue 830. Purchase days and the gaps between consecutive ones:
A 5, 20, 41, 101 (gaps 15, 21, 60); B 10, 75 (65); C 32, 46 (14); D 61; E 25, 36, 65, 111
(11, 29, 46). Sorted gaps: 11, 14, 15, 21, 29, 46, 60, 65 (8 gaps, sum 261).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import retentio
from retentio import (
    KPI_KEYS,
    SEGMENTS,
    TRANSACTIONS_SCHEMA,
    calibration_holdout,
    churn_threshold_days,
    cohort_matrix,
    cohort_table,
    customer_value,
    historical_clv,
    interpurchase_gaps,
    interpurchase_histogram,
    kpi_trends,
    kpis,
    new_vs_returning,
    order_metrics,
    period_churn,
    repeat_purchase_rate,
    returning_revenue_share,
    rfm,
    rfm_segments,
    summarize,
    threshold_churn,
    time_between_purchases,
    trend_direction,
)
from retentio.analytics.rfm import segment_of
from retentio.core.errors import ConfigurationError, EmptyDataError, SchemaError

END = "2024-04-30"
ROWS = [
    ("A", "a1", "2024-01-05 10:00", 100.0),
    ("A", "a2", "2024-01-20 11:00", 50.0),
    ("A", "a3", "2024-02-10 09:00", 80.0),
    ("A", "a4", "2024-04-10 16:00", 40.0),
    ("A", "a5", "2024-05-10 23:30", 999.0),
    ("B", "b1", "2024-01-10 08:00", 200.0),
    ("B", "b2", "2024-03-15 12:00", 60.0),
    ("B", "b2", "2024-04-02 10:00", -20.0),
    ("C", "c1", "2024-02-01 10:00", 30.0),
    ("C", "c2", "2024-02-01 15:00", 20.0),
    ("C", "c3", "2024-02-15 13:00", 40.0),
    ("D", "d1", "2024-03-01 00:30", 70.0),
    ("E", "e1", "2024-01-25 19:00", 25.0),
    ("E", "e2", "2024-02-05 07:00", 35.0),
    ("E", "e3", "2024-03-05 22:00", 45.0),
    ("E", "e4", "2024-04-20 12:00", 55.0),
]
COLUMNS = ["customer_id", "order_id", "ordered_at", "amount"]
M = [pd.Timestamp(f"2024-0{m}-01") for m in (1, 2, 3, 4)]  # the four month starts


def frame_of(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture(scope="module")
def shop() -> pa.Table:
    table = retentio.load_transactions(frame_of(ROWS), currency="EUR")
    assert table.schema.equals(TRANSACTIONS_SCHEMA, check_metadata=False)
    assert table["is_refund"].to_pylist() == [r[3] < 0 for r in ROWS]
    return table


def assert_frame(actual: pd.DataFrame, expected: dict[str, list[object]]) -> None:
    """``actual`` has exactly these columns, in this order, with these values."""
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True),
        pd.DataFrame(expected),
        check_dtype=False,
        check_exact=False,
        rtol=1e-9,
        atol=1e-12,
    )


# --- summarize -------------------------------------------------------------------------------


def test_summarize_daily(shop: pa.Table) -> None:
    summary = summarize(shop, observation_end=END)
    assert_frame(
        summary,
        {
            "customer_id": ["A", "B", "C", "D", "E"],
            # purchase days after the first: A 3, B 1, C 1 (c1 and c2 share a day), D 0, E 3
            "frequency": [3, 1, 1, 0, 3],
            # last - first day: 101-5, 75-10, 46-32, 0, 111-25
            "recency": [96.0, 65.0, 14.0, 0.0, 86.0],
            # 121 - first day: 121-5, 121-10, 121-32, 121-61, 121-25
            "T": [116.0, 111.0, 89.0, 60.0, 96.0],
            # mean of the repeat days' values: A (50+80+40)/3; B b2 net 60-20; C 40;
            # D none; E (35+45+55)/3
            "monetary_value": [170 / 3, 40.0, 40.0, 0.0, 45.0],
        },
    )
    assert summary["frequency"].dtype == np.int64


def test_summarize_daily_in_weeks(shop: pa.Table) -> None:
    summary = summarize(shop, observation_end=END, freq="D", time_unit="W")
    assert summary["recency"].tolist() == pytest.approx([96 / 7, 65 / 7, 14 / 7, 0.0, 86 / 7])
    assert summary["T"].tolist() == pytest.approx([116 / 7, 111 / 7, 89 / 7, 60 / 7, 96 / 7])
    assert summary["frequency"].tolist() == [3, 1, 1, 0, 3]


def test_summarize_weekly(shop: pa.Table) -> None:
    # 2024-01-01 is a Monday, so the ISO week of day d is (d - 1) // 7 counted from week 0:
    # A 5->0, 20->2, 41->5, 101->14; B 10->1, 75->10; C 32->4, 46->6; D 61->8;
    # E 25->3, 36->5, 65->9, 111->15; the end, day 121, is in week 17
    summary = summarize(shop, observation_end=END, freq="W", time_unit="W")
    assert_frame(
        summary,
        {
            "customer_id": ["A", "B", "C", "D", "E"],
            "frequency": [3, 1, 1, 0, 3],
            "recency": [14.0, 9.0, 2.0, 0.0, 12.0],  # 14-0, 10-1, 6-4, 0, 15-3
            "T": [17.0, 16.0, 13.0, 9.0, 14.0],  # 17-0, 17-1, 17-4, 17-8, 17-3
            "monetary_value": [170 / 3, 40.0, 40.0, 0.0, 45.0],
        },
    )


def test_summarize_monthly_merges_purchases_in_one_month(shop: pa.Table) -> None:
    # A: Jan (100+50), Feb 80, Apr 40 -> 2 repeat months, mean (80+40)/2 = 60
    # B: Jan, Mar (net 40); C: Feb only (30+20+40); D: Mar; E: every month
    summary = summarize(shop, observation_end=END, freq="M")
    assert_frame(
        summary,
        {
            "customer_id": ["A", "B", "C", "D", "E"],
            "frequency": [2, 1, 0, 0, 3],
            "recency": [3.0, 2.0, 0.0, 0.0, 3.0],
            "T": [3.0, 3.0, 2.0, 1.0, 3.0],  # April (month 3 from January) - first month
            "monetary_value": [60.0, 40.0, 0.0, 0.0, 45.0],
        },
    )
    with pytest.raises(ConfigurationError, match="time_unit"):
        summarize(shop, observation_end=END, freq="M", time_unit="W")


def test_calibration_holdout(shop: pa.Table) -> None:
    # calibration up to Feb 29 (day 60); holdout Mar 1 .. Apr 30 = 121 - 60 = 61 days.
    # D's first purchase (Mar 1) is after the calibration end: D is not in the result.
    split = calibration_holdout(shop, calibration_end="2024-02-29", observation_end=END)
    assert_frame(
        split,
        {
            "customer_id": ["A", "B", "C", "E"],
            "frequency_cal": [2, 0, 1, 1],  # A days 20, 41; B none; C 46; E 36
            "recency_cal": [36.0, 0.0, 14.0, 11.0],  # 41-5, 0, 46-32, 36-25
            "T_cal": [55.0, 50.0, 28.0, 35.0],  # 60-5, 60-10, 60-32, 60-25
            "monetary_value_cal": [65.0, 0.0, 40.0, 35.0],  # (50+80)/2, 0, 40, 35
            "frequency_holdout": [1, 1, 0, 2],  # A day 101; B day 75; C none; E 65, 111
            "monetary_value_holdout": [40.0, 40.0, 0.0, 50.0],  # 40; 60-20; 0; (45+55)/2
            "duration_holdout": [61.0, 61.0, 61.0, 61.0],
        },
    )


def test_calibration_holdout_arguments(shop: pa.Table) -> None:
    with pytest.raises(ConfigurationError, match="calibration_end"):
        calibration_holdout(shop, calibration_end="2024-05-01", observation_end=END)
    with pytest.raises(ConfigurationError, match="calibration_end"):
        calibration_holdout(shop, calibration_end=END, observation_end=END)
    with pytest.raises(EmptyDataError):
        calibration_holdout(shop, calibration_end="2023-12-31", observation_end=END)


# --- churn and retention ---------------------------------------------------------------------


def test_period_churn_monthly(shop: pa.Table) -> None:
    # buyers per month: Jan A B E; Feb A C E; Mar B D E (the Apr refund is no purchase);
    # Apr A E. Retained = bought in the month before and in this one: Feb A E; Mar E; Apr E.
    churn = period_churn(shop, observation_end=END, period="M")
    assert_frame(
        churn,
        {
            "period": M,
            "active_customers": [3, 3, 3, 2],
            "previous_active": [0, 3, 3, 3],
            "retained": [0, 2, 1, 1],
            "churned": [0, 1, 2, 2],
            "retention_rate": [np.nan, 2 / 3, 1 / 3, 1 / 3],
            "churn_rate": [np.nan, 1 / 3, 2 / 3, 2 / 3],
            "complete": [True, True, True, True],
        },
    )


def test_period_churn_with_a_cut_short_last_period(shop: pa.Table) -> None:
    # up to Apr 15: April buyers are A only (E buys on Apr 20); none of Mar's B D E came back
    churn = period_churn(shop, observation_end="2024-04-15", period="M")
    last = churn.iloc[-1]
    assert (last["active_customers"], last["retained"], last["churned"]) == (1, 0, 3)
    assert last["churn_rate"] == 1.0
    assert churn["complete"].tolist() == [True, True, True, False]


def test_threshold_churn_as_of_the_end(shop: pa.Table) -> None:
    # days since the last purchase on Apr 30: A 121-101=20, B 121-75=46, C 121-46=75,
    # D 121-61=60, E 121-111=10; more than 30: B, C, D
    churn = threshold_churn(shop, observation_end=END, days=30)
    assert_frame(
        churn,
        {
            "as_of": [pd.Timestamp(END)],
            "days": [30],
            "customers": [5],
            "churned": [3],
            "active": [2],
            "churn_rate": [3 / 5],
            "retention_rate": [2 / 5],
        },
    )


def test_threshold_churn_monthly_trend(shop: pa.Table) -> None:
    # as of Jan 31 (day 31): A B E acquired, silent 31-20=11, 31-10=21, 31-25=6 days: none
    # as of Feb 29 (60): + C; A 60-41=19, B 60-10=50 (churned), C 60-46=14, E 60-36=24
    # as of Mar 31 (91): + D; A 91-41=50 (churned), B 91-75=16, C 91-46=45 (churned),
    #   D 91-61=30 (exactly 30 is not *more than* 30: active), E 91-65=26
    # as of Apr 30 (121): B, C, D as above
    churn = threshold_churn(shop, observation_end=END, days=30, period="M")
    assert_frame(
        churn,
        {
            "as_of": [pd.Timestamp(d) for d in ("2024-01-31", "2024-02-29", "2024-03-31", END)],
            "days": [30] * 4,
            "customers": [3, 4, 5, 5],
            "churned": [0, 1, 2, 3],
            "active": [3, 3, 3, 2],
            "churn_rate": [0.0, 1 / 4, 2 / 5, 3 / 5],
            "retention_rate": [1.0, 3 / 4, 3 / 5, 2 / 5],
        },
    )


def brute_force_churn(rows: list[tuple[str, str, str, float]], as_of: date, days: int) -> tuple:
    """(customers, churned) as of ``as_of``, straight from the definition."""
    last: dict[str, date] = {}
    for customer, _, when, amount in rows:
        day = date.fromisoformat(when[:10])
        if amount >= 0 and day <= as_of:
            last[customer] = max(last.get(customer, day), day)
    churned = sum(1 for d in last.values() if (as_of - d).days > days)
    return len(last), churned


@pytest.mark.parametrize("days", [1, 14, 30, 45])
def test_threshold_churn_daily_trend_matches_brute_force(shop: pa.Table, days: int) -> None:
    churn = threshold_churn(shop, observation_end=END, days=days, period="D")
    first = date(2024, 1, 5)
    expected_days = [first + timedelta(days=i) for i in range((date(2024, 4, 30) - first).days + 1)]
    assert [ts.date() for ts in churn["as_of"]] == expected_days
    for row, as_of in zip(churn.itertuples(), expected_days, strict=True):
        customers, churned = brute_force_churn(ROWS, as_of, days)
        assert (row.customers, row.churned) == (customers, churned), as_of
        assert row.churn_rate + row.retention_rate == pytest.approx(1.0)


def test_churn_threshold_days(shop: pa.Table) -> None:
    # sorted gaps 11, 14, 15, 21, 29, 46, 60, 65; the 0.9 quantile (linear interpolation) is
    # at position 0.9 * (8 - 1) = 6.3: 60 + 0.3 * (65 - 60) = 61.5, rounded up to 62
    assert churn_threshold_days(shop, observation_end=END) == 62
    # the median: position 3.5, (21 + 29) / 2 = 25
    assert churn_threshold_days(shop, observation_end=END, quantile=0.5) == 25
    # the default threshold of threshold_churn is this one
    assert threshold_churn(shop, observation_end=END)["days"].tolist() == [62]
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ConfigurationError, match="quantile"):
            churn_threshold_days(shop, observation_end=END, quantile=bad)


def test_churn_threshold_without_repeat_purchases_falls_back_to_a_year(shop: pa.Table) -> None:
    # only D's single order: no gap to learn from
    assert churn_threshold_days(shop.filter(pa.compute.equal(shop["customer_id"], "D")),
                                observation_end=END) == 365  # fmt: skip


# --- repeat purchase -------------------------------------------------------------------------


def test_repeat_purchase_rate_overall(shop: pa.Table) -> None:
    # orders: A 4, B 2, C 3, D 1, E 4 -> 4 of 5 with two or more
    rate = repeat_purchase_rate(shop, observation_end=END)
    assert_frame(rate, {"customers": [5], "repeat_customers": [4], "repeat_purchase_rate": [0.8]})


def test_repeat_purchase_rate_by_cohort(shop: pa.Table) -> None:
    # January cohort A B E (all repeat), February C (repeat), March D (not)
    rate = repeat_purchase_rate(shop, observation_end=END, by="cohort", period="M")
    assert_frame(
        rate,
        {
            "cohort": M[:3],
            "customers": [3, 1, 1],
            "repeat_customers": [3, 1, 0],
            "repeat_purchase_rate": [1.0, 1.0, 0.0],
        },
    )


def test_repeat_purchase_rate_by_period(shop: pa.Table) -> None:
    # customers to date: Jan 3 (A B E), Feb 4 (+C), Mar 5 (+D), Apr 5;
    # second orders: A Jan 20, C Feb 1 (c2), E Feb 5, B Mar 15 -> to date 1, 3, 4, 4.
    # 2+ orders within the month: Jan A (a1, a2); Feb C (c1, c2, c3); Mar, Apr nobody
    rate = repeat_purchase_rate(shop, observation_end=END, by="period", period="M")
    assert_frame(
        rate,
        {
            "period": M,
            "customers": [3, 4, 5, 5],
            "repeat_customers": [1, 3, 4, 4],
            "repeat_purchase_rate": [1 / 3, 3 / 4, 4 / 5, 4 / 5],
            "buyers": [3, 3, 3, 2],
            "repeat_buyers_in_period": [1, 1, 0, 0],
            "in_period_repeat_rate": [1 / 3, 1 / 3, 0.0, 0.0],
            "complete": [True] * 4,
        },
    )


# --- time between purchases ------------------------------------------------------------------


def test_time_between_purchases_overall(shop: pa.Table) -> None:
    # gaps 11, 14, 15, 21, 29, 46, 60, 65: mean 261 / 8; quantiles interpolate at
    # 0.25*7 = 1.75 -> 14.75, 0.5*7 = 3.5 -> 25, 0.75*7 = 5.25 -> 46 + 0.25*14 = 49.5,
    # 0.9*7 = 6.3 -> 61.5; customers with a gap: A B C E
    spacing = time_between_purchases(shop, observation_end=END)
    assert_frame(
        spacing,
        {
            "gaps": [8],
            "customers": [4],
            "mean_days": [261 / 8],
            "median_days": [25.0],
            "p25_days": [14.75],
            "p75_days": [49.5],
            "p90_days": [61.5],
        },
    )


def test_time_between_purchases_per_customer(shop: pa.Table) -> None:
    spacing = time_between_purchases(shop, observation_end=END, by="customer")
    assert_frame(
        spacing,
        {
            "customer_id": ["A", "B", "C", "E"],
            "gaps": [3, 1, 1, 3],
            "mean_days": [(15 + 21 + 60) / 3, 65.0, 14.0, (11 + 29 + 46) / 3],
            "median_days": [21.0, 65.0, 14.0, 29.0],
            "min_days": [15, 65, 14, 11],
            "max_days": [60, 65, 14, 46],
        },
    )


def test_time_between_purchases_per_period(shop: pa.Table) -> None:
    # by the month of the later purchase: Jan A 15; Feb A 21, C 14, E 11; Mar B 65, E 29;
    # Apr A 60, E 46
    spacing = time_between_purchases(shop, observation_end=END, by="period", period="M")
    assert_frame(
        spacing,
        {
            "period": M,
            "gaps": [1, 3, 2, 2],
            "mean_days": [15.0, 46 / 3, 47.0, 53.0],
            "median_days": [15.0, 14.0, 47.0, 53.0],
        },
    )


def test_interpurchase_gaps(shop: pa.Table) -> None:
    gaps = interpurchase_gaps(shop, observation_end=END)
    assert list(zip(gaps["customer_id"], gaps["days"], strict=True)) == [
        ("A", 15), ("A", 21), ("A", 60), ("B", 65), ("C", 14), ("E", 11), ("E", 29), ("E", 46),
    ]  # fmt: skip
    assert pd.Timestamp(gaps["previous_day"].iloc[0]) == pd.Timestamp("2024-01-05")
    assert pd.Timestamp(gaps["day"].iloc[0]) == pd.Timestamp("2024-01-20")


def test_interpurchase_histogram_default_bins(shop: pa.Table) -> None:
    # max_days: the 0.99 quantile, 60 + 0.93 * 5 = 64.65, + 1, rounded up to a multiple of 7: 70
    # bins of the gaps (days // 7 * 7): 11->7, 14->14, 15->14, 21->21, 29->28, 46->42,
    # 60->56, 65->63
    hist = interpurchase_histogram(shop, observation_end=END)
    assert_frame(
        hist,
        {
            "bin_start": list(range(0, 71, 7)),
            "bin_end": [*range(7, 71, 7), np.nan],
            "gaps": [0, 1, 2, 1, 1, 0, 1, 0, 1, 1, 0],
            "share": [g / 8 for g in (0, 1, 2, 1, 1, 0, 1, 0, 1, 1, 0)],
        },
    )


def test_interpurchase_histogram_open_last_bin(shop: pa.Table) -> None:
    # gaps of 28 days or more go to the open bin: 29, 46, 60, 65
    hist = interpurchase_histogram(shop, observation_end=END, bin_days=7, max_days=28)
    assert_frame(
        hist,
        {
            "bin_start": [0, 7, 14, 21, 28],
            "bin_end": [7.0, 14.0, 21.0, 28.0, np.nan],
            "gaps": [0, 1, 2, 1, 4],
            "share": [0.0, 1 / 8, 2 / 8, 1 / 8, 4 / 8],
        },
    )
    with pytest.raises(ConfigurationError, match="bin_days"):
        interpurchase_histogram(shop, observation_end=END, bin_days=0)


def test_interpurchase_histogram_open_bin_when_max_days_is_not_a_multiple(
    shop: pa.Table,
) -> None:
    # bins [0,7) [7,14) [14,21) [21,28) [28,30) [30, inf): 29 -> [28,30); 46, 60, 65 -> open
    hist = interpurchase_histogram(shop, observation_end=END, bin_days=7, max_days=30)
    assert hist["bin_start"].tolist() == [0, 7, 14, 21, 28, 30]
    assert hist["gaps"].tolist() == [0, 1, 2, 1, 1, 3]


# --- value -----------------------------------------------------------------------------------


def test_order_metrics_overall(shop: pa.Table) -> None:
    metrics = order_metrics(shop, observation_end=END)
    assert_frame(
        metrics,
        {
            "customers": [5],
            "orders": [14],
            "refunds": [1],
            "gross_revenue": [850.0],
            "refunded": [20.0],
            "revenue": [830.0],
            "average_order_value": [830 / 14],  # net revenue / orders
            "purchase_frequency": [14 / 5],  # orders / customers
            "revenue_per_customer": [830 / 5],
        },
    )


def test_order_metrics_per_month(shop: pa.Table) -> None:
    # Jan a1 100, a2 50, b1 200, e1 25 = 375; Feb a3 80, c1 30, c2 20, c3 40, e2 35 = 205;
    # Mar b2 60, d1 70, e3 45 = 175; Apr a4 40, e4 55 = 95 and the b2 refund of 20 (a refund
    # is subtracted in the month it happens)
    metrics = order_metrics(shop, observation_end=END, period="M")
    assert_frame(
        metrics,
        {
            "period": M,
            "customers": [3, 3, 3, 2],
            "orders": [4, 5, 3, 2],
            "refunds": [0, 0, 0, 1],
            "gross_revenue": [375.0, 205.0, 175.0, 95.0],
            "refunded": [0.0, 0.0, 0.0, 20.0],
            "revenue": [375.0, 205.0, 175.0, 75.0],
            "average_order_value": [375 / 4, 205 / 5, 175 / 3, 75 / 2],
            "purchase_frequency": [4 / 3, 5 / 3, 3 / 3, 2 / 2],
            "revenue_per_customer": [375 / 3, 205 / 3, 175 / 3, 75 / 2],
        },
    )


def test_customer_value(shop: pa.Table) -> None:
    value = customer_value(shop, observation_end=END)
    assert_frame(
        value.assign(
            first_purchase=pd.to_datetime(value["first_purchase"]),
            last_purchase=pd.to_datetime(value["last_purchase"]),
        ),
        {
            "customer_id": ["A", "B", "C", "D", "E"],
            "orders": [4, 2, 3, 1, 4],
            "revenue": [270.0, 240.0, 90.0, 70.0, 160.0],  # B: 200 + 60 - 20
            "first_purchase": pd.to_datetime(
                ["2024-01-05", "2024-01-10", "2024-02-01", "2024-03-01", "2024-01-25"]
            ),
            "last_purchase": pd.to_datetime(
                ["2024-04-10", "2024-03-15", "2024-02-15", "2024-03-01", "2024-04-20"]
            ),
            "lifespan_days": [96, 65, 14, 0, 86],
        },
    )


def test_historical_clv_under_two_years(shop: pa.Table) -> None:
    clv = historical_clv(shop, observation_end=END).iloc[0]
    assert clv["customers"] == 5
    assert clv["revenue"] == pytest.approx(830.0)
    assert clv["historical_clv"] == pytest.approx(830 / 5)
    # the whole history lies in the last 365 days
    assert clv["average_order_value_12m"] == pytest.approx(830 / 14)
    assert clv["purchase_frequency_12m"] == pytest.approx(14 / 5)
    assert clv["mean_lifespan_days"] == pytest.approx((96 + 65 + 14 + 0 + 86) / 5)
    # nobody bought in the year before the last one: no annual churn to learn from
    assert math.isnan(clv["annual_churn_rate"])


def test_historical_clv_formula_is_nan_under_two_years(shop: pa.Table) -> None:
    clv = historical_clv(shop, observation_end=END).iloc[0]
    assert math.isnan(clv["formula_clv"])


def test_historical_clv_formula() -> None:
    # end 2024-04-30: the last year is days after 2023-05-01 (end - 365 days), the year
    # before is (2022-05-01, 2023-05-01]. P buys in both years, Q only in the year before,
    # R only in the last year: annual churn 1 - 1/2 = 0.5, lifespan 1 / 0.5 = 2 years.
    rows = [
        ("P", "p1", "2022-06-01", 40.0),
        ("P", "p2", "2024-01-01", 100.0),
        ("Q", "q1", "2022-07-01", 60.0),
        ("R", "r1", "2023-06-01", 50.0),
    ]
    table = retentio.load_transactions(frame_of(rows), currency="EUR")
    clv = historical_clv(table, observation_end=END).iloc[0]
    assert clv["customers"] == 3
    assert clv["revenue"] == pytest.approx(250.0)  # 40 + 100 + 60 + 50
    assert clv["historical_clv"] == pytest.approx(250 / 3)
    assert clv["average_order_value_12m"] == pytest.approx(75.0)  # (100 + 50) / 2
    assert clv["purchase_frequency_12m"] == pytest.approx(1.0)  # 2 orders / 2 buyers
    assert clv["annual_churn_rate"] == pytest.approx(0.5)
    assert clv["lifespan_years"] == pytest.approx(2.0)
    assert clv["formula_clv"] == pytest.approx(150.0)  # 75 * 1 * 2
    # P: 2022-06-01 .. 2024-01-01 = 365 + 214 = 579 days; Q and R 0
    assert clv["mean_lifespan_days"] == pytest.approx(579 / 3)


# --- new vs returning ------------------------------------------------------------------------


def test_new_vs_returning(shop: pa.Table) -> None:
    # first orders: a1, b1, c1 (10:00, before c2 at 15:00), d1, e1.
    # Jan: new A B E (a1 100, b1 200, e1 25); a2 50 is a returning order, but A is new in Jan
    # Feb: new C (c1 30); returning customers A E; returning orders a3 80, c2 20, c3 40, e2 35
    # Mar: new D (d1 70); returning B E: b2 net 60 - 20 = 40 (its April refund counts with
    #      the order) and e3 45
    # Apr: returning A E: a4 40, e4 55
    split = new_vs_returning(shop, observation_end=END, period="M")
    assert_frame(
        split,
        {
            "period": M,
            "new_customers": [3, 1, 1, 0],
            "returning_customers": [0, 2, 2, 2],
            "new_orders": [3, 1, 1, 0],
            "returning_orders": [1, 4, 2, 2],
            "new_revenue": [325.0, 30.0, 70.0, 0.0],
            "returning_revenue": [50.0, 175.0, 85.0, 95.0],
            "returning_order_share": [1 / 4, 4 / 5, 2 / 3, 2 / 2],
            "returning_revenue_share": [50 / 375, 175 / 205, 85 / 155, 95 / 95],
        },
    )


def test_returning_revenue_share(shop: pa.Table) -> None:
    # first orders 100 + 200 + 30 + 70 + 25 = 425 of 830; later orders 830 - 425 = 405
    assert returning_revenue_share(shop, observation_end=END) == pytest.approx(405 / 830)


def test_a_refund_without_its_order_counts_as_returning_revenue() -> None:
    orphan = ("A", "zz", "2024-02-20 10:00", -10.0)  # refunds an order not in the data
    table = retentio.load_transactions(frame_of([*ROWS, orphan]), currency="EUR")
    split = new_vs_returning(table, observation_end=END, period="M")
    assert split["returning_revenue"].tolist() == pytest.approx([50.0, 165.0, 85.0, 95.0])
    assert split["new_revenue"].tolist() == pytest.approx([325.0, 30.0, 70.0, 0.0])
    # (405 - 10) / (830 - 10)
    assert returning_revenue_share(table, observation_end=END) == pytest.approx(395 / 820)
    assert kpis(table, observation_end=END)["returning_customer_revenue_share"] == (
        pytest.approx(395 / 820)
    )


# A refund of an order from before the data (no purchase with its id), in January, before
# anyone's first purchase in February: net revenue -5 + 10 + 20 + 10 = 35.
EARLY_ORPHAN = [
    ("A", "zz", "2024-01-03 10:00", -5.0),
    ("A", "a1", "2024-02-05 10:00", 10.0),
    ("B", "b1", "2024-03-05 10:00", 20.0),
    ("A", "a2", "2024-03-10 10:00", 10.0),
]


def test_new_vs_returning_keeps_an_orphan_refund_before_the_first_purchase() -> None:
    table = retentio.load_transactions(frame_of(EARLY_ORPHAN), currency="EUR")
    split = new_vs_returning(table, observation_end=END, period="M")
    # new: a1 10, b1 20; returning: a2 10 and the orphan -5
    assert split["new_revenue"].sum() == pytest.approx(30.0)
    assert split["returning_revenue"].sum() == pytest.approx(5.0)
    assert returning_revenue_share(table, observation_end=END) == pytest.approx(5 / 35)


def test_kpi_trends_with_a_refund_before_the_first_purchase() -> None:
    table = retentio.load_transactions(frame_of(EARLY_ORPHAN), currency="EUR")
    trends = kpi_trends(table, observation_end=END, period="M", churn_days=30)
    assert trends["period"].tolist() == M
    assert trends["revenue"].tolist() == pytest.approx([-5.0, 10.0, 30.0, 0.0])
    # 30-day churn as of Feb 29: A silent 24 days; Mar 31: A 21, B 26; Apr 30: A 51, B 56
    assert math.isnan(trends["churn_rate"].iloc[0])  # nobody acquired in January
    assert trends["churn_rate"].tolist()[1:] == pytest.approx([0.0, 0.0, 1.0])


def test_a_shop_without_repeat_purchases() -> None:
    rows = [("A", "a1", "2024-01-05", 10.0), ("B", "b1", "2024-02-05", 20.0)]
    table = retentio.load_transactions(frame_of(rows), currency="EUR")
    figures = kpis(table, observation_end=END)
    assert figures["repeat_purchase_rate"] == 0.0
    assert math.isnan(figures["avg_days_between_purchases"])
    assert math.isnan(figures["median_days_between_purchases"])
    assert figures["returning_customer_revenue_share"] == 0.0
    # no gap to learn a threshold from: 365 days, and nobody is silent that long
    assert churn_threshold_days(table, observation_end=END) == 365
    assert figures["churn_rate"] == 0.0
    spacing = time_between_purchases(table, observation_end=END, by="period")
    assert spacing.empty
    assert spacing.columns.tolist() == ["period", "gaps", "mean_days", "median_days"]
    assert interpurchase_histogram(table, observation_end=END)["gaps"].sum() == 0


# --- cohorts ---------------------------------------------------------------------------------


def test_cohort_matrix(shop: pa.Table) -> None:
    # Jan cohort A B E (3): Jan all 375; Feb A E, a3 80 + e2 35 = 115; Mar B E, b2 60 + e3 45
    # = 105; Apr A E, a4 40 + e4 55 - 20 (B's refund, counted when it happens) = 75.
    # Feb cohort C (1): Feb 90, then nothing. Mar cohort D (1): Mar 70, then nothing.
    matrix = cohort_matrix(shop, observation_end=END, period="M")
    jan = [375 / 3, 115 / 3, 105 / 3, 75 / 3]
    assert_frame(
        matrix,
        {
            "cohort": [M[0]] * 4 + [M[1]] * 3 + [M[2]] * 2,
            "period_number": [0, 1, 2, 3, 0, 1, 2, 0, 1],
            "cohort_size": [3, 3, 3, 3, 1, 1, 1, 1, 1],
            "active_customers": [3, 2, 2, 2, 1, 0, 0, 1, 0],
            "active_share": [1.0, 2 / 3, 2 / 3, 2 / 3, 1.0, 0.0, 0.0, 1.0, 0.0],
            "revenue": [375.0, 115.0, 105.0, 75.0, 90.0, 0.0, 0.0, 70.0, 0.0],
            "revenue_per_customer": [*jan, 90.0, 0.0, 0.0, 70.0, 0.0],
            "cumulative_revenue_per_customer": [
                *np.cumsum(jan),
                90.0,
                90.0,
                90.0,
                70.0,
                70.0,
            ],  # fmt: skip
            "complete": [True] * 9,
        },
    )
    cut = cohort_matrix(shop, observation_end="2024-04-15", period="M")
    assert cut["complete"].tolist() == [True, True, True, False, True, True, False, True, False]


def test_cohort_table(shop: pa.Table) -> None:
    matrix = cohort_matrix(shop, observation_end=END, period="M")
    table = cohort_table(matrix)
    assert table.index.tolist() == M[:3]
    assert table.columns.tolist() == ["cohort_size", 0, 1, 2, 3]
    assert table["cohort_size"].tolist() == [3, 1, 1]
    assert table.loc[M[0], [0, 1, 2, 3]].tolist() == pytest.approx([1.0, 2 / 3, 2 / 3, 2 / 3])
    assert table.loc[M[1], [0, 1, 2]].tolist() == [1.0, 0.0, 0.0]
    assert math.isnan(table.loc[M[1], 3])  # no fourth month for the February cohort yet
    assert table.loc[M[2], [0, 1]].tolist() == [1.0, 0.0]
    revenue = cohort_table(matrix, "revenue")
    assert revenue.loc[M[0], 3] == pytest.approx(75.0)
    with pytest.raises(ConfigurationError, match="value"):
        cohort_table(matrix, "nope")


# --- RFM -------------------------------------------------------------------------------------

# The R x F grid of the rfm.py docstring, transcribed range by range.
GRID = [
    ("Champions", [5], [4, 5]),
    ("Loyal", [3, 4], [4, 5]),
    ("Potential loyalists", [4, 5], [2, 3]),
    ("New", [5], [1]),
    ("Promising", [4], [1]),
    ("Need attention", [3], [3]),
    ("About to sleep", [3], [1, 2]),
    ("Can't lose them", [1, 2], [5]),
    ("At risk", [1, 2], [3, 4]),
    ("Hibernating", [1, 2], [1, 2]),  # except R 1, F 1
    ("Lost", [1], [1]),
]
EXPECTED_SEGMENT = {(r, f): name for name, rs, fs in GRID for r in rs for f in fs}  # Lost last


@pytest.mark.parametrize(("r", "f"), [(r, f) for r in range(1, 6) for f in range(1, 6)])
def test_segment_of_every_score_pair(r: int, f: int) -> None:
    assert segment_of(r, f) == EXPECTED_SEGMENT[(r, f)]


def test_segment_grid_is_complete() -> None:
    assert len(EXPECTED_SEGMENT) == 25
    assert {name for name, _, _ in GRID} == set(SEGMENTS)
    assert EXPECTED_SEGMENT[(1, 1)] == "Lost"
    assert EXPECTED_SEGMENT[(2, 1)] == "Hibernating"


def test_rfm_scores(shop: pa.Table) -> None:
    # recency days to Apr 30: A 20, B 46, C 75, D 60, E 10; orders A 4, B 2, C 3, D 1, E 4;
    # net revenue A 270, B 240, C 90, D 70, E 160. With 5 customers the score is the rank.
    # R (longest silent first): C 1, D 2, B 3, A 4, E 5
    # F (fewest first): D 1, B 2, C 3, A and E tie at rank 4
    # M (least first): D 1, C 2, E 3, B 4, A 5
    scores = rfm(shop, observation_end=END)
    assert_frame(
        scores,
        {
            "customer_id": ["A", "B", "C", "D", "E"],
            "recency_days": [20, 46, 75, 60, 10],
            "frequency": [4, 2, 3, 1, 4],
            "monetary": [270.0, 240.0, 90.0, 70.0, 160.0],
            "r_score": [4, 3, 1, 2, 5],
            "f_score": [4, 2, 3, 1, 4],
            "m_score": [5, 4, 2, 1, 3],
            "rfm_score": ["445", "324", "132", "211", "543"],
            "segment": ["Loyal", "About to sleep", "At risk", "Hibernating", "Champions"],
        },
    )


def test_rfm_quintiles_with_more_customers() -> None:
    # 7 customers with 1..7 orders on one day: F score = floor(5 * (rank - 1) / 7) + 1
    # ranks 1..7 -> 0/7, 5/7, 10/7, 15/7, 20/7, 25/7, 30/7 -> 1, 1, 2, 3, 3, 4, 5
    rows = [(f"k{n}", f"k{n}-{i}", "2024-04-01 12:00", 10.0) for n in range(1, 8) for i in range(n)]
    table = retentio.load_transactions(frame_of(rows), currency="EUR")
    scores = rfm(table, observation_end=END)
    assert scores["f_score"].tolist() == [1, 1, 2, 3, 3, 4, 5]
    assert scores["m_score"].tolist() == [1, 1, 2, 3, 3, 4, 5]  # revenue 10 * n
    assert scores["r_score"].tolist() == [1] * 7  # all tie at rank 1


def test_rfm_segments(shop: pa.Table) -> None:
    segments = rfm_segments(shop, observation_end=END)
    assert segments["segment"].tolist() == list(SEGMENTS)
    got = segments.set_index("segment")
    # E Champions 160, A Loyal 270, B About to sleep 240, C At risk 90, D Hibernating 70
    filled = {
        "Champions": (160.0, 10, 4),
        "Loyal": (270.0, 20, 4),
        "About to sleep": (240.0, 46, 2),
        "At risk": (90.0, 75, 3),
        "Hibernating": (70.0, 60, 1),
    }
    for segment in SEGMENTS:
        row = got.loc[segment]
        if segment in filled:
            revenue, recency, frequency = filled[segment]
            assert row["customers"] == 1
            assert row["share"] == pytest.approx(1 / 5)
            assert row["revenue"] == pytest.approx(revenue)
            assert row["revenue_share"] == pytest.approx(revenue / 830)
            assert row["avg_recency_days"] == pytest.approx(recency)
            assert row["avg_frequency"] == pytest.approx(frequency)
            assert row["avg_monetary"] == pytest.approx(revenue)
        else:
            assert row["customers"] == 0
            assert row["share"] == 0.0
            assert row["revenue"] == 0.0
    assert segments.columns.tolist() == [
        "segment", "customers", "share", "revenue", "revenue_share",
        "avg_recency_days", "avg_frequency", "avg_monetary",
    ]  # fmt: skip


# --- KPIs ------------------------------------------------------------------------------------


def test_kpis(shop: pa.Table) -> None:
    figures = kpis(shop, observation_end=END)
    assert list(figures) == list(KPI_KEYS)
    assert set(figures) == {
        "customers", "orders", "revenue", "repeat_purchase_rate", "churn_rate",
        "retention_rate", "avg_days_between_purchases", "median_days_between_purchases",
        "average_order_value", "purchase_frequency", "historical_clv",
        "returning_customer_revenue_share",
    }  # fmt: skip
    assert figures["customers"] == 5
    assert figures["orders"] == 14
    assert figures["revenue"] == pytest.approx(830.0)
    assert figures["repeat_purchase_rate"] == pytest.approx(4 / 5)
    # default threshold 62 days (see test_churn_threshold_days): only C (75 days) churned
    assert figures["churn_rate"] == pytest.approx(1 / 5)
    assert figures["retention_rate"] == pytest.approx(4 / 5)
    assert figures["avg_days_between_purchases"] == pytest.approx(261 / 8)
    assert figures["median_days_between_purchases"] == pytest.approx(25.0)
    assert figures["average_order_value"] == pytest.approx(830 / 14)
    assert figures["purchase_frequency"] == pytest.approx(14 / 5)
    assert figures["historical_clv"] == pytest.approx(830 / 5)
    assert figures["returning_customer_revenue_share"] == pytest.approx(405 / 830)
    # with a 30-day threshold B, C and D have churned
    figures = kpis(shop, observation_end=END, churn_days=30)
    assert figures["churn_rate"] == pytest.approx(3 / 5)
    assert figures["retention_rate"] == pytest.approx(2 / 5)


def test_kpi_trends(shop: pa.Table) -> None:
    trends = kpi_trends(shop, observation_end=END, period="M", churn_days=30)
    assert trends.columns.tolist() == [
        "period", *KPI_KEYS, "complete",
    ]  # fmt: skip
    assert trends["period"].tolist() == M
    assert trends["customers"].tolist() == [3, 3, 3, 2]  # buyers in the month
    assert trends["orders"].tolist() == [4, 5, 3, 2]
    assert trends["revenue"].tolist() == pytest.approx([375.0, 205.0, 175.0, 75.0])
    assert trends["repeat_purchase_rate"].tolist() == pytest.approx([1 / 3, 3 / 4, 4 / 5, 4 / 5])
    assert trends["churn_rate"].tolist() == pytest.approx([0.0, 1 / 4, 2 / 5, 3 / 5])
    assert trends["retention_rate"].tolist() == pytest.approx([1.0, 3 / 4, 3 / 5, 2 / 5])
    assert trends["avg_days_between_purchases"].tolist() == pytest.approx(
        [15.0, 46 / 3, 47.0, 53.0]
    )
    assert trends["median_days_between_purchases"].tolist() == pytest.approx(
        [15.0, 14.0, 47.0, 53.0]
    )
    assert trends["average_order_value"].tolist() == pytest.approx(
        [375 / 4, 205 / 5, 175 / 3, 75 / 2]
    )
    # revenue to date / customers to date: 375/3, 580/4, 755/5, 830/5
    assert trends["historical_clv"].tolist() == pytest.approx([125.0, 145.0, 151.0, 166.0])
    assert trends["returning_customer_revenue_share"].tolist() == pytest.approx(
        [50 / 375, 175 / 205, 85 / 155, 1.0]
    )
    assert trends["complete"].tolist() == [True] * 4


@pytest.mark.parametrize(
    ("values", "direction"),
    [
        ([1, 2, 3, 4], "rising"),
        ([4, 3, 2, 1], "falling"),
        ([5, 5, 5, 5], "flat"),
        ([1, 2], "flat"),  # fewer than three values
        ([], "flat"),
        ([0, 0, 0], "flat"),  # no scale
        # slope 0.5 per step over x = 0, 1, 2: change 0.5 * 2 / 100.33 = 0.0100 < 0.02
        ([100, 100, 101], "flat"),
        # slope 2: change 2 * 2 / 101.67 = 0.039 > 0.02
        ([100, 101, 104], "rising"),
        ([104, 101, 100], "falling"),
        ([1, np.nan, 2, np.nan, 3], "rising"),  # NaN dropped
        ([1, np.nan, 2], "flat"),  # two values left
        ([50, 1, 1, 1, 1, 1, 1], "flat"),  # only the last six count
    ],
)
def test_trend_direction(values: list[float], direction: str) -> None:
    assert trend_direction(pd.Series(values, dtype="float64")) == direction


def test_trend_direction_window_and_tolerance() -> None:
    assert trend_direction(pd.Series([50.0, 1, 1, 1, 1, 1, 1]), window=7) == "falling"
    # change 0.0100 is beyond a tolerance of 0.005
    assert trend_direction(pd.Series([100.0, 100, 101]), tolerance=0.005) == "rising"


# --- inputs and arguments --------------------------------------------------------------------


def test_observation_end_excludes_later_rows(shop: pa.Table) -> None:
    # a5 (999) is on May 10 at 23:30 UTC: in from observation_end May 10, not on May 9
    assert order_metrics(shop, observation_end="2024-05-09")["orders"].tolist() == [14]
    later = order_metrics(shop, observation_end="2024-05-10").iloc[0]
    assert later["orders"] == 15
    assert later["revenue"] == pytest.approx(830.0 + 999.0)
    summary = summarize(shop, observation_end="2024-05-10").set_index("customer_id")
    assert summary.loc["A", "frequency"] == 4
    assert summary.loc["A", "recency"] == 126.0  # day 131 - day 5
    # the refund of b2 on Apr 2 is outside an observation end of Mar 31: b2 counts 60
    march = summarize(shop, observation_end="2024-03-31").set_index("customer_id")
    assert march.loc["B", "monetary_value"] == 60.0
    assert march.loc["B", "T"] == 81.0  # day 91 - day 10
    with pytest.raises(EmptyDataError):
        summarize(shop, observation_end="2024-01-04")


@pytest.mark.parametrize(
    "end", ["2024-04-30", date(2024, 4, 30), pd.Timestamp("2024-04-30"), " 2024-04-30 "]
)
def test_observation_end_forms(shop: pa.Table, end: object) -> None:
    assert order_metrics(shop, observation_end=end)["orders"].tolist() == [14]


def test_other_table_forms_give_the_same_numbers(shop: pa.Table, tmp_path: object) -> None:
    import polars as pl

    path = tmp_path / "shop.parquet"  # type: ignore[operator]
    pq.write_table(shop, path)
    expected = summarize(shop, observation_end=END)
    for form in (shop.to_pandas(), pl.from_arrow(shop), path, str(path)):
        pd.testing.assert_frame_equal(summarize(form, observation_end=END), expected)


@pytest.mark.parametrize(
    "call",
    [
        lambda t: period_churn(t, observation_end=END, period="X"),
        lambda t: threshold_churn(t, observation_end=END, days=30, period="X"),
        lambda t: summarize(t, observation_end=END, freq="X"),
        lambda t: cohort_matrix(t, observation_end=END, period="X"),
        lambda t: new_vs_returning(t, observation_end=END, period="fortnight"),
        lambda t: order_metrics(t, observation_end=END, period="X"),
        lambda t: repeat_purchase_rate(t, observation_end=END, by="nope"),
        lambda t: repeat_purchase_rate(t, observation_end=END, period="X"),
        lambda t: time_between_purchases(t, observation_end=END, by="nope"),
        lambda t: threshold_churn(t, observation_end=END, days=0),
        lambda t: kpis(t, observation_end="30/04/2024"),
        lambda t: kpis(t, observation_end=20240430),
        lambda t: summarize(t, observation_end=END, time_unit="M"),
    ],
)
def test_bad_arguments_are_configuration_errors(shop: pa.Table, call: object) -> None:
    with pytest.raises(ConfigurationError):
        call(shop)  # type: ignore[operator]


def test_lower_case_period_codes_work(shop: pa.Table) -> None:
    assert period_churn(shop, observation_end=END, period="m")["active_customers"].tolist() == [
        3, 3, 3, 2,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "function",
    [summarize, kpis, period_churn, rfm, cohort_matrix, order_metrics, new_vs_returning],
)
def test_non_normalised_input_is_a_schema_error(function: object) -> None:
    raw = pd.DataFrame(
        {"customer": ["A"], "order": ["a1"], "date": ["2024-01-05"], "amount": [1.0]}
    )
    with pytest.raises(SchemaError, match="load_transactions"):
        function(raw, observation_end=END)  # type: ignore[operator]


def test_unusable_inputs_are_configuration_errors(tmp_path: object) -> None:
    with pytest.raises(ConfigurationError):
        kpis([1, 2, 3], observation_end=END)
    csv = tmp_path / "orders.csv"  # type: ignore[operator]
    csv.write_text("x\n1\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="load_transactions"):
        kpis(csv, observation_end=END)
