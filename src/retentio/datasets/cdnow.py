"""The CDNOW data sets of the "buy till you die" literature, bundled with the package.

The files in ``retentio/datasets/data/`` are the public research data published by Peter Fader
and Bruce Hardie with Fader, Hardie & Lee (2005), "'Counting your customers' the easy way: an
alternative to the Pareto/NBD model", *Marketing Science* 24(2), 275-284, and their data notes.
See ``data/README.md`` for the attribution and the file formats.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from retentio.analytics.schema import TRANSACTIONS_SCHEMA

__all__ = ["load_cdnow", "load_cdnow_summary", "load_donations"]

_MASTER = "CDNOW_master.txt"
_SAMPLE = "CDNOW_sample.txt"
_SUMMARY = "cdnow_customers_summary_with_transactions.csv"
_DONATIONS = "donations.csv"


def _read_text(name: str) -> str:
    return (
        resources.files(__package__ or "retentio.datasets")
        .joinpath("data", name)
        .read_text(encoding="ascii")
    )


def _within_customer_number(customer: NDArray[np.int64]) -> NDArray[np.int64]:
    """1-based running number of each row within its customer, in file order."""
    order = np.argsort(customer, kind="stable")
    ranked = customer[order]
    is_first = np.empty(ranked.size, dtype=np.bool_)
    is_first[:1] = True
    is_first[1:] = ranked[1:] != ranked[:-1]
    positions = np.arange(ranked.size, dtype=np.int64)
    group_start = np.maximum.accumulate(np.where(is_first, positions, 0))
    number = np.empty(ranked.size, dtype=np.int64)
    number[order] = positions - group_start + 1
    return number


def load_cdnow(sample: bool = True) -> pa.Table:
    """Load the CDNOW purchases as a transactions table.

    The cohort of 23,570 customers who first bought at CDNOW in the first quarter of 1997,
    followed to the end of June 1998, as used by Fader, Hardie & Lee (2005), "'Counting your
    customers' the easy way: an alternative to the Pareto/NBD model", *Marketing Science*
    24(2), 275-284.

    Parameters
    ----------
    sample : bool, default True
        ``True`` for the 1/10th sample of the papers (2,357 customers, 6,919 purchases),
        ``False`` for the full master file (23,570 customers, 69,659 purchases).

    Returns
    -------
    pyarrow.Table
        One row per purchase, in file order, in exactly
        :data:`retentio.analytics.schema.TRANSACTIONS_SCHEMA`:

        - ``customer_id``: for the sample, the sequential sample id (``"1"`` to ``"2357"``, the
          ``ID`` of :func:`load_cdnow_summary`); for the master file, CDNOW's customer id. Both
          without leading zeros.
        - ``order_id``: CDNOW has no order ids, so ``f"{customer_id}-{n}"`` with ``n`` the
          1-based number of the row within its customer, in file order.
        - ``ordered_at``: the purchase date at midnight UTC (the data carry no time of day).
        - ``amount``: ``dollar_value``; the few rows of 0.00 are kept as orders of 0.0.
        - ``currency``: ``"USD"``; ``is_refund``: ``False``; ``status``: null.

    Examples
    --------
    >>> table = load_cdnow()
    >>> table.num_rows, len(set(table.column("customer_id").to_pylist()))
    (6919, 2357)
    """
    tokens = np.array(_read_text(_SAMPLE if sample else _MASTER).split())
    if sample:
        # customer_id, sample id, date, number_of_cds, dollar_value; no header
        fields = tokens.reshape(-1, 5)
        ids, dates, amounts = fields[:, 1], fields[:, 2], fields[:, 4]
    else:
        # header line, then customer_id, date, number_of_cds, dollar_value
        fields = tokens[4:].reshape(-1, 4)
        ids, dates, amounts = fields[:, 0], fields[:, 1], fields[:, 3]
    customer = ids.astype(np.int64)
    customer_id = pa.array(customer.astype(str), type=pa.string())
    number = pa.array(_within_customer_number(customer).astype(str), type=pa.string())
    order_id = pc.binary_join_element_wise(customer_id, number, "-")
    ordered_at = pc.strptime(pa.array(dates), format="%Y%m%d", unit="us").cast(
        pa.timestamp("us", tz="UTC")
    )
    n = len(customer)
    columns = [
        customer_id,
        order_id,
        ordered_at,
        pa.array(amounts.astype(np.float64), type=pa.float64()),
        pa.array(np.full(n, "USD"), type=pa.string()),
        pa.array(np.zeros(n, dtype=np.bool_), type=pa.bool_()),
        pa.nulls(n, type=pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=TRANSACTIONS_SCHEMA)


def load_cdnow_summary() -> pd.DataFrame:
    """Load the published 39-week calibration summary of the CDNOW sample.

    The per-customer summary of the 2,357-customer sample that Fader, Hardie & Lee (2005),
    "'Counting your customers' the easy way: an alternative to the Pareto/NBD model",
    *Marketing Science* 24(2), 275-284, fit the BG/NBD model to, and that Fader & Hardie (2013),
    "The Gamma-Gamma model of monetary value", fit spend to. Published estimates: BG/NBD
    r=0.243, alpha=4.414, a=0.793, b=2.426 (log-likelihood -9582.4); Gamma-Gamma on the 946
    repeat buyers p=6.25, q=3.74, gamma=15.44.

    Returns
    -------
    pandas.DataFrame
        2,357 rows with columns

        - ``ID`` (int64): the sample id (``customer_id`` of ``load_cdnow(sample=True)``),
        - ``x`` (int64): the number of repeat purchases in the 39 weeks,
        - ``t_x`` (float64): the time of the last repeat purchase, in weeks since the first,
        - ``T`` (float64): the weeks between the first purchase and the end of the period,
        - ``zbar`` (float64): the mean value of the repeat purchases (0 when ``x`` is 0).

    Examples
    --------
    >>> load_cdnow_summary().shape
    (2357, 5)
    """
    path = resources.files(__package__ or "retentio.datasets").joinpath("data", _SUMMARY)
    with path.open("rb") as handle:
        frame = pd.read_csv(
            handle,
            dtype={
                "ID": "int64",
                "x": "int64",
                "t_x": "float64",
                "T": "float64",
                "zbar": "float64",
            },
        )
    return frame


def load_donations() -> pd.DataFrame:
    """Load the discrete-time (BG/BB) donations example.

    Repeat donations over six annual opportunities by a cohort of donors, compressed to one
    row per (frequency, recency) pattern with the number of donors as weight: the classic
    discrete-time companion to the CDNOW data of Fader, Hardie & Lee (2005), "'Counting your
    customers' the easy way: an alternative to the Pareto/NBD model", *Marketing Science*
    24(2), 275-284; the BG/BB model for it is Fader, Hardie & Shang (2010), "Customer-base
    analysis in a discrete-time noncontractual setting", *Marketing Science* 29(6).

    Returns
    -------
    pandas.DataFrame
        22 rows with int64 columns ``frequency`` (repeat donations), ``recency`` (the period of
        the last one), ``periods`` (opportunities, 6) and ``weights`` (donors with the pattern).

    Examples
    --------
    >>> int(load_donations()["weights"].sum())
    11104
    """
    path = resources.files(__package__ or "retentio.datasets").joinpath("data", _DONATIONS)
    with path.open("rb") as handle:
        frame = pd.read_csv(handle, dtype="int64")
    return frame
