"""The computations the benchmark compares, one function per (task, implementation).

Every implementation starts from the same normalised transactions Parquet file (written once
from ``retentio.load_transactions``) and ends with a pandas DataFrame holding exactly the result
of the retentio function: same rows, same columns, same values. ``run.py`` checks that.

- ``retentio``: the public API, given the Parquet path.
- ``sql``: hand-written DuckDB SQL, on a connection configured as retentio's (UTC session).
- ``pandas``: the straightforward pandas implementation (``read_parquet`` + groupby).

The lifetimes implementation runs in its own virtual environment: see ``lifetimes_worker.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

__all__ = ["IMPLEMENTATIONS", "check_same", "cohorts_sql_text", "summarize_sql_text"]

COLUMNS = ["customer_id", "order_id", "ordered_at", "amount", "is_refund"]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    return con


def _end_exclusive(end: date) -> str:
    return f"TIMESTAMPTZ '{end + timedelta(days=1)} 00:00:00+00'"


# --------------------------------------------------------------------------------------------
# summarize(transactions, observation_end=end)  (freq="D", time_unit=None)
# --------------------------------------------------------------------------------------------


def summarize_sql_text(path: str, end: date) -> str:
    """Per-customer frequency, recency, T, monetary_value, as :func:`retentio.summarize`.

    Refunds (rows with ``is_refund``) are netted into the purchase with the same ``order_id``;
    the net values are summed per (customer, UTC day); the first day is the acquisition, the
    others are repeat periods. The file is scanned twice (refunds, purchases) rather than
    through a CTE, which DuckDB would materialise in memory (as fast, 50 % more memory).
    """
    source, cut = _literal(path), _end_exclusive(end)
    return f"""
        WITH refunds AS (
            SELECT order_id, sum(amount) AS refunded
            FROM read_parquet({source})
            WHERE is_refund AND ordered_at < {cut}
            GROUP BY order_id
        ),
        days AS (
            SELECT p.customer_id, CAST(p.ordered_at AS DATE) AS day,
                   sum(p.amount + coalesce(r.refunded, 0.0)) AS value
            FROM read_parquet({source}) AS p LEFT JOIN refunds AS r ON p.order_id = r.order_id
            WHERE NOT p.is_refund AND p.ordered_at < {cut}
            GROUP BY p.customer_id, day
        ),
        per_customer AS (
            SELECT customer_id, count(*) AS n, min(day) AS first, max(day) AS last,
                   sum(value) AS total, arg_min(value, day) AS first_value
            FROM days GROUP BY customer_id
        )
        SELECT customer_id,
               n - 1 AS frequency,
               CAST(last - first AS DOUBLE) AS recency,
               CAST(DATE '{end}' - first AS DOUBLE) AS T,
               CASE WHEN n > 1 THEN (total - first_value) / (n - 1) ELSE 0.0 END
                   AS monetary_value
        FROM per_customer
        ORDER BY customer_id
    """


def summarize_retentio(path: str, end: date) -> pd.DataFrame:
    import retentio

    return retentio.summarize(path, observation_end=end.isoformat())


def summarize_sql(path: str, end: date) -> pd.DataFrame:
    con = _connect()
    try:
        return con.sql(summarize_sql_text(path, end)).to_arrow_table().to_pandas()
    finally:
        con.close()


def _read_pandas(path: str, end: date) -> pd.DataFrame:
    df = pd.read_parquet(path, columns=COLUMNS)
    cut = pd.Timestamp(end + timedelta(days=1), tz="UTC")
    return df[df["ordered_at"] < cut]


def net_purchases_pandas(df: pd.DataFrame) -> pd.DataFrame:
    """Purchases with their refunds (same order_id) netted in: customer_id, day, value."""
    refunds = df[df["is_refund"]].groupby("order_id")["amount"].sum().rename("refunded")
    purchases = df[~df["is_refund"]].join(refunds, on="order_id")
    return pd.DataFrame(
        {
            "customer_id": purchases["customer_id"],
            "day": purchases["ordered_at"].dt.floor("D"),
            "value": purchases["amount"] + purchases["refunded"].fillna(0.0),
        }
    )


def summarize_pandas(path: str, end: date) -> pd.DataFrame:
    orders = net_purchases_pandas(_read_pandas(path, end))
    days = orders.groupby(["customer_id", "day"], as_index=False)["value"].sum()
    # groupby sorts by (customer_id, day): "first" is the value of the first purchase day
    per = days.groupby("customer_id").agg(
        n=("value", "size"),
        first=("day", "min"),
        last=("day", "max"),
        total=("value", "sum"),
        first_value=("value", "first"),
    )
    end_day = pd.Timestamp(end, tz="UTC")
    frequency = per["n"] - 1
    repeats = frequency.to_numpy()
    monetary = np.zeros(len(per))
    has = repeats > 0
    monetary[has] = (per["total"] - per["first_value"]).to_numpy()[has] / repeats[has]
    return pd.DataFrame(
        {
            "customer_id": per.index.to_numpy(),
            "frequency": frequency.to_numpy().astype("int64"),
            "recency": ((per["last"] - per["first"]).dt.days).to_numpy().astype("float64"),
            "T": ((end_day - per["first"]).dt.days).to_numpy().astype("float64"),
            "monetary_value": monetary,
        }
    )


# --------------------------------------------------------------------------------------------
# cohort_matrix(transactions, observation_end=end, period="M")
# --------------------------------------------------------------------------------------------


def _month(day: date) -> int:
    return day.year * 12 + day.month - 1


def cohorts_sql_text(path: str, end: date) -> str:
    """The monthly cohort matrix in long form, as :func:`retentio.cohort_matrix`.

    A customer's cohort is the month of their first purchase (refunds are not purchases);
    ``active_customers`` counts the cohort's customers with a purchase in the month,
    ``revenue`` sums all the cohort's rows of the month (refunds count when they happen).
    Every cohort gets a row for every month up to the observation end.
    """
    last = _month(end)
    return f"""
        WITH t AS (
            SELECT customer_id, CAST(ordered_at AS DATE) AS day, amount, is_refund
            FROM read_parquet({_literal(path)})
            WHERE ordered_at < {_end_exclusive(end)}
        ),
        per_month AS (
            SELECT customer_id, year(day) * 12 + month(day) - 1 AS idx,
                   bool_or(NOT is_refund) AS bought, sum(amount) AS revenue
            FROM t GROUP BY customer_id, idx
        ),
        firsts AS (
            SELECT customer_id, min(idx) AS cohort
            FROM per_month WHERE bought GROUP BY customer_id
        ),
        activity AS (
            SELECT f.cohort, m.idx - f.cohort AS period_number,
                   count(*) FILTER (WHERE m.bought) AS active_customers,
                   sum(m.revenue) AS revenue
            FROM per_month AS m JOIN firsts AS f ON m.customer_id = f.customer_id
            GROUP BY f.cohort, period_number
        ),
        sizes AS (SELECT cohort, count(*) AS cohort_size FROM firsts GROUP BY cohort),
        grid AS (
            SELECT s.cohort, g.k AS period_number, s.cohort_size
            FROM sizes AS s, LATERAL range(0, {last} - s.cohort + 1) AS g(k)
        ),
        matrix AS (
            SELECT g.cohort, g.period_number, g.cohort_size,
                   coalesce(a.active_customers, 0) AS active_customers,
                   coalesce(a.revenue, 0.0) AS revenue
            FROM grid AS g LEFT JOIN activity AS a
                ON a.cohort = g.cohort AND a.period_number = g.period_number
        )
        SELECT CAST(make_date(CAST(cohort // 12 AS BIGINT), CAST(cohort % 12 + 1 AS BIGINT), 1)
                    AS TIMESTAMP) AS cohort,
               period_number,
               cohort_size,
               active_customers,
               active_customers / cohort_size AS active_share,
               revenue,
               revenue / cohort_size AS revenue_per_customer,
               sum(revenue / cohort_size) OVER (
                   PARTITION BY cohort ORDER BY period_number
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
               ) AS cumulative_revenue_per_customer,
               cohort + period_number < {last} OR {end == _month_end(end)} AS complete
        FROM matrix
        ORDER BY cohort, period_number
    """


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def cohorts_retentio(path: str, end: date) -> pd.DataFrame:
    import retentio

    return retentio.cohort_matrix(path, observation_end=end.isoformat(), period="M")


def cohorts_sql(path: str, end: date) -> pd.DataFrame:
    con = _connect()
    try:
        out = con.sql(cohorts_sql_text(path, end)).to_arrow_table().to_pandas()
    finally:
        con.close()
    out["cohort"] = out["cohort"].astype("datetime64[ns]")
    return out


def cohorts_pandas(path: str, end: date) -> pd.DataFrame:
    df = _read_pandas(path, end)
    when = df["ordered_at"].dt
    df["idx"] = when.year * 12 + when.month - 1
    firsts = df.loc[~df["is_refund"]].groupby("customer_id")["idx"].min().rename("cohort")
    rows = df.join(firsts, on="customer_id", how="inner")
    rows["period_number"] = rows["idx"] - rows["cohort"]
    keys = ["cohort", "period_number"]
    active = (
        rows[~rows["is_refund"]].groupby(keys)["customer_id"].nunique().rename("active_customers")
    )
    revenue = rows.groupby(keys)["amount"].sum().rename("revenue")
    sizes = firsts.value_counts().rename("cohort_size").rename_axis("cohort").sort_index()
    last = _month(end)
    grid = pd.DataFrame(
        [(c, k) for c in sizes.index for k in range(0, last - int(c) + 1)], columns=keys
    )
    out = grid.join(sizes, on="cohort").join(active, on=keys).join(revenue, on=keys)
    out["active_customers"] = out["active_customers"].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0)
    out["active_share"] = out["active_customers"] / out["cohort_size"]
    out["revenue_per_customer"] = out["revenue"] / out["cohort_size"]
    out["cumulative_revenue_per_customer"] = out.groupby("cohort")["revenue_per_customer"].cumsum()
    out["complete"] = (out["cohort"] + out["period_number"] < last) | (end == _month_end(end))
    out["cohort"] = pd.to_datetime(
        {"year": out["cohort"] // 12, "month": out["cohort"] % 12 + 1, "day": 1}
    )
    return out[
        [
            "cohort", "period_number", "cohort_size", "active_customers", "active_share",
            "revenue", "revenue_per_customer", "cumulative_revenue_per_customer", "complete",
        ]
    ]  # fmt: skip


IMPLEMENTATIONS: dict[str, dict[str, Callable[[str, date], pd.DataFrame]]] = {
    "summarize": {
        "retentio": summarize_retentio,
        "sql": summarize_sql,
        "pandas": summarize_pandas,
    },
    "cohorts": {
        "retentio": cohorts_retentio,
        "sql": cohorts_sql,
        "pandas": cohorts_pandas,
    },
}


def check_same(task: str, expected: pd.DataFrame, got: pd.DataFrame) -> list[str]:
    """Differences between two results of ``task`` (empty when they agree)."""
    keys = ["customer_id"] if task == "summarize" else ["cohort", "period_number"]
    problems: list[str] = []
    if list(got.columns) != list(expected.columns):
        return [f"columns differ: {list(got.columns)} != {list(expected.columns)}"]
    if len(got) != len(expected):
        return [f"row counts differ: {len(got)} != {len(expected)}"]
    a = expected.sort_values(keys).reset_index(drop=True)
    b = got.sort_values(keys).reset_index(drop=True)
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if np.issubdtype(x.dtype, np.floating) or np.issubdtype(y.dtype, np.floating):
            ok = np.allclose(x.astype("float64"), y.astype("float64"), rtol=1e-9, atol=1e-9)
        elif x.dtype.kind == "M" or y.dtype.kind == "M":
            ok = bool(
                (pd.to_datetime(x).tz_localize(None) == pd.to_datetime(y).tz_localize(None)).all()
            )
        else:
            ok = bool(np.array_equal(x.astype(object), y.astype(object)))
        if not ok:
            problems.append(f"column {col} differs")
    return problems
