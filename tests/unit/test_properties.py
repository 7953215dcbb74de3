"""Properties of the metrics on random small shops (hypothesis).

Every DuckDB-backed call takes tens of milliseconds, so the example counts are small and
deadlines are off; each test still sees a different set of shops on every run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import retentio
from retentio import TRANSACTIONS_SCHEMA

START = datetime(2024, 1, 1, tzinfo=UTC)
END = "2024-04-30"  # day 121; rows are drawn over 140 days, so some fall after the end
HOURS = 140 * 24


def fast(examples: int) -> Any:
    return settings(max_examples=examples, deadline=None)


@st.composite
def shop_rows(draw: st.DrawFn, refunds: bool = True) -> list[dict[str, Any]]:
    """Rows of a normalised table: 1-20 orders of up to 6 customers, some partly refunded."""
    orders = draw(
        st.lists(
            st.tuples(
                st.sampled_from("ABCDEF"),
                st.integers(0, HOURS),  # hour of the order
                st.integers(2, 20_000),  # amount in cents
                st.integers(0, 72),  # hours until its refund
                st.booleans() if refunds else st.just(False),  # refunded?
            ),
            min_size=1,
            max_size=20,
        )
    )
    rows = []
    for i, (customer, hour, cents, delay, refunded) in enumerate(orders):
        at = START + timedelta(hours=hour)
        rows.append(row(customer, f"o{i}", at, cents / 100, False))
        if refunded:
            rows.append(row(customer, f"o{i}", at + timedelta(hours=delay), -(cents // 2) / 100))
    assume(any(not r["is_refund"] and r["ordered_at"] < START + timedelta(days=121) for r in rows))
    return rows


def row(customer: str, order: str, at: datetime, amount: float, refund: bool = True) -> dict:
    return {
        "customer_id": customer,
        "order_id": order,
        "ordered_at": at,
        "amount": amount,
        "currency": "EUR",
        "is_refund": refund,
        "status": None,
    }


def table_of(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=TRANSACTIONS_SCHEMA)


def same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9)


# --- row order does not matter ---------------------------------------------------------------


@fast(8)
@given(rows=shop_rows(), data=st.data())
def test_reordering_rows_changes_no_summary_and_no_rfm(
    rows: list[dict], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(rows))))
    table, shuffled = table_of(rows), table_of([rows[i] for i in order])
    same_frame(
        retentio.summarize(table, observation_end=END),
        retentio.summarize(shuffled, observation_end=END),
    )
    same_frame(
        retentio.rfm(table, observation_end=END), retentio.rfm(shuffled, observation_end=END)
    )


@fast(5)
@given(rows=shop_rows(), data=st.data())
def test_reordering_rows_changes_no_kpi(rows: list[dict], data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(rows))))
    table, shuffled = table_of(rows), table_of([rows[i] for i in order])
    before = retentio.kpis(table, observation_end=END, churn_days=30)
    after = retentio.kpis(shuffled, observation_end=END, churn_days=30)
    assert list(before) == list(after)
    for key, value in before.items():
        assert after[key] == pytest.approx(value, rel=1e-9, abs=1e-9, nan_ok=True), key


@fast(6)
@given(rows=shop_rows(), period=st.sampled_from("WM"), data=st.data())
def test_reordering_rows_changes_no_cohort_and_period_zero_is_everyone(
    rows: list[dict], period: str, data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(rows))))
    matrix = retentio.cohort_matrix(table_of(rows), observation_end=END, period=period)
    same_frame(
        matrix,
        retentio.cohort_matrix(
            table_of([rows[i] for i in order]), observation_end=END, period=period
        ),
    )
    first = matrix[matrix["period_number"] == 0]
    assert (first["active_share"] == 1.0).all()
    assert (first["active_customers"] == first["cohort_size"]).all()
    # every customer with a purchase by the end is in exactly one cohort
    end = datetime.fromisoformat(END).date()
    buyers = {
        r["customer_id"] for r in rows if not r["is_refund"] and r["ordered_at"].date() <= end
    }
    assert first["cohort_size"].sum() == len(buyers)
    assert (matrix["active_share"].between(0.0, 1.0)).all()


# --- loading duplicates ----------------------------------------------------------------------


def raw_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a shop export: text timestamps, refunds as negative amounts."""
    return pd.DataFrame(
        {
            "customer_id": [r["customer_id"] for r in rows],
            "order_id": [r["order_id"] for r in rows],
            "ordered_at": [r["ordered_at"].strftime("%Y-%m-%d %H:%M:%S") for r in rows],
            "amount": [r["amount"] for r in rows],
        }
    )


def key(record: dict[str, Any]) -> tuple[str, bool]:
    return record["order_id"], record["is_refund"]


@fast(12)
@given(rows=shop_rows(), data=st.data())
def test_duplicated_rows_load_to_the_same_table(rows: list[dict], data: st.DataObject) -> None:
    copies = data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=6))
    doubled = list(rows)
    for i in copies:
        doubled.insert(data.draw(st.integers(0, len(doubled))), rows[i])
    once = retentio.load_transactions(raw_frame(rows), currency="EUR")
    twice = retentio.load_transactions(raw_frame(doubled), currency="EUR")
    assert sorted(twice.to_pylist(), key=key) == sorted(once.to_pylist(), key=key)
    assert sorted(once.to_pylist(), key=key) == sorted(rows, key=key)
    report = retentio.load_report(twice)
    assert report is not None
    assert report.duplicates_removed == len(copies)
    assert report.conflicting_duplicates == 0
    assert report.rows_loaded == len(rows)


# --- churn rates -----------------------------------------------------------------------------


@fast(8)
@given(rows=shop_rows(), period=st.sampled_from("DWM"))
def test_period_churn_and_retention_add_up_to_one(rows: list[dict], period: str) -> None:
    churn = retentio.period_churn(table_of(rows), observation_end=END, period=period)
    defined = churn["previous_active"] > 0
    total = churn.loc[defined, "churn_rate"] + churn.loc[defined, "retention_rate"]
    assert (total - 1.0).abs().max() < 1e-12 if defined.any() else True
    assert churn.loc[~defined, "churn_rate"].isna().all()
    assert churn.loc[~defined, "retention_rate"].isna().all()
    assert (churn["retained"] <= churn["active_customers"]).all()
    assert (churn["retained"] <= churn["previous_active"]).all()
    assert (churn["churned"] >= 0).all()
    assert churn["active_customers"].iloc[0] > 0  # the first period is the first purchase's


@fast(8)
@given(rows=shop_rows(), days=st.integers(1, 60), period=st.sampled_from([None, "W", "M"]))
def test_threshold_churn_and_retention_add_up_to_one(
    rows: list[dict], days: int, period: str | None
) -> None:
    churn = retentio.threshold_churn(table_of(rows), observation_end=END, days=days, period=period)
    assert (churn["customers"] > 0).all()
    assert ((churn["churn_rate"] + churn["retention_rate"] - 1.0).abs() < 1e-12).all()
    assert (churn["churned"].between(0, churn["customers"])).all()
    assert churn["customers"].is_monotonic_increasing
    assert (churn["days"] == days).all()


# --- summary invariants ----------------------------------------------------------------------


@fast(12)
@given(rows=shop_rows(refunds=False), freq=st.sampled_from("DWM"))
def test_summary_invariants(rows: list[dict], freq: str) -> None:
    summary = retentio.summarize(table_of(rows), observation_end=END, freq=freq)
    assert summary["customer_id"].is_unique
    assert summary["customer_id"].is_monotonic_increasing
    assert (summary["frequency"] >= 0).all()
    assert (summary["recency"] >= 0).all()
    assert (summary["recency"] <= summary["T"]).all()
    # all amounts are positive: a mean of repeat values is 0 exactly when there is no repeat
    assert ((summary["monetary_value"] == 0) == (summary["frequency"] == 0)).all()
    assert (summary["monetary_value"] >= 0).all()
    # repeat periods are distinct periods in (first, end]: never more of them than T periods
    assert (summary["frequency"] <= summary["T"]).all()
