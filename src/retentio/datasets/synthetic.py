"""A deterministic synthetic web shop: customers, orders and refunds with realistic behaviour.

The model (see ``docs/datasets.md``):

- **Acquisition.** Each customer's first purchase falls on a day of ``[start, end]`` drawn with
  weight ``month_weights[month] * (1 + growth_per_year) ** years`` -- a growing shop with a
  Black Friday to Christmas peak and a smaller spring bump -- and ``black_friday_boost`` more on
  Black Friday to Cyber Monday. The local time of day follows an evening-peaked hourly profile
  and is converted to UTC with the customer's time zone.
- **Repeat purchases** follow the BG/NBD model of Fader, Hardie & Lee (2005), "'Counting your
  customers' the easy way: an alternative to the Pareto/NBD model", *Marketing Science* 24(2),
  275-284: purchase rate ``lambda ~ Gamma(r, alpha)`` per day, dropout probability
  ``p ~ Beta(a, b)`` after each repeat purchase. ``seasonal_repeats`` lets the purchase rate
  follow the seasons too (0 gives the textbook homogeneous process).
- **Spend** follows the Gamma-Gamma model of Fader & Hardie (2013), "The Gamma-Gamma model of
  monetary value": ``nu ~ Gamma(q, gamma)`` per customer, each basket ``Gamma(p_spend, nu)``
  EUR, rounded to cents.
- **Refunds.** A share ``refund_rate`` of orders is refunded 1-30 days later: an extra row with
  the same ``order_id``, status ``"refunded"`` and the negative full (or, for a share
  ``partial_refund_share``, partial) amount. Refunds due after ``end`` are not in the export.

Customers are simulated in blocks of 10,000, each with its own random stream derived from
``(seed, block index)`` by :class:`numpy.random.SeedSequence`, so the rows depend only on
``(customers, seed, start, end, params)``: :func:`generate_shop` and :func:`write_shop` (whatever
its ``chunk_customers``) produce the same rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from retentio.core.errors import ConfigurationError
from retentio.datasets._shop_model import (
    COUNTRIES,
    Calendar,
    Rows,
    build_calendar,
    simulate_block,
)

__all__ = ["ORDERS_EXPORT_SCHEMA", "ShopParams", "ShopStats", "generate_shop", "write_shop"]

CURRENCY = "EUR"
BLOCK_CUSTOMERS = 10_000  # customers per random stream; fixes the rows whatever the chunking

ORDERS_EXPORT_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("ordered_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("amount", pa.float64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("country", pa.string(), nullable=False),
        pa.field("locale", pa.string(), nullable=False),
        pa.field("timezone", pa.string(), nullable=False),
    ],
    metadata={b"retentio.table": b"orders_export", b"retentio.generator": b"synthetic-shop"},
)


@dataclass(frozen=True, slots=True)
class ShopParams:
    """Parameters of the synthetic shop; the defaults give a plausible European web shop.

    With the default period (2023-01-01 to 2026-06-30) the default shop has about 3 orders
    per customer, about 40 % repeat buyers and a mean basket of about 60 EUR.

    Parameters
    ----------
    r, alpha : float
        Shape and rate (per day) of the Gamma distribution of purchase rates (BG/NBD).
        The mean rate is ``r / alpha`` purchases per day.
    a, b : float
        Beta distribution of the dropout probability after each repeat purchase (BG/NBD).
    p_spend, q, gamma : float
        Gamma-Gamma spend: basket ``~ Gamma(p_spend, nu)``, ``nu ~ Gamma(q, gamma)``; the mean
        basket is ``p_spend * gamma / (q - 1)`` EUR (``q > 1``).
    refund_rate : float
        Share of orders refunded later (0-1).
    partial_refund_share : float
        Share of refunds that return only part (10-90 %) of the basket (0-1).
    growth_per_year : float
        Yearly growth of new-customer acquisitions (0.35 = +35 % a year; > -1).
    month_weights : tuple of 12 floats
        Relative acquisition intensity of January to December (> 0).
    black_friday_boost : float
        Extra multiplier from Black Friday to Cyber Monday (>= 1).
    seasonal_repeats : float
        How much repeat purchases follow the seasons: 0 (a homogeneous Poisson process, exactly
        BG/NBD) to 1 (as strongly as acquisitions).
    country_weights : tuple of (country, weight)
        Countries (DK, NL, DE, SE, BE) and their shares of customers (> 0).
    """

    r: float = 0.2
    alpha: float = 20.0
    a: float = 0.8
    b: float = 3.5
    p_spend: float = 6.0
    q: float = 4.0
    gamma: float = 30.0
    refund_rate: float = 0.03
    partial_refund_share: float = 0.3
    growth_per_year: float = 0.35
    month_weights: tuple[float, ...] = (
        0.85, 0.75, 0.85, 1.0, 1.05, 0.9, 0.85, 0.85, 0.95, 1.0, 1.45, 1.6,
    )  # fmt: skip
    black_friday_boost: float = 2.5
    seasonal_repeats: float = 0.5
    country_weights: tuple[tuple[str, float], ...] = (
        ("DK", 0.35),
        ("NL", 0.25),
        ("DE", 0.20),
        ("SE", 0.10),
        ("BE", 0.10),
    )

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in ("month_weights", "country_weights"):
                continue
            if not isinstance(value, int | float) or not math.isfinite(value):
                _bad(field.name, "a finite number", value)
        for name in ("r", "alpha", "a", "b", "p_spend", "gamma"):
            if not getattr(self, name) > 0:
                _bad(name, "> 0", getattr(self, name))
        if not self.q > 1:
            _bad("q", "> 1 (for a finite mean basket)", self.q)
        for name in ("refund_rate", "partial_refund_share", "seasonal_repeats"):
            if not 0 <= getattr(self, name) <= 1:
                _bad(name, "between 0 and 1", getattr(self, name))
        if not self.growth_per_year > -1:
            _bad("growth_per_year", "> -1", self.growth_per_year)
        if not self.black_friday_boost >= 1:
            _bad("black_friday_boost", ">= 1", self.black_friday_boost)
        weights = self.month_weights
        if len(weights) != 12 or not all(_positive(w) for w in weights):
            _bad("month_weights", "12 finite numbers > 0", weights)
        countries = [pair[0] for pair in self.country_weights if len(pair) == 2]
        if (
            not self.country_weights
            or len(countries) != len(self.country_weights)
            or len(set(countries)) != len(countries)
            or not set(countries) <= COUNTRIES.keys()
            or not all(_positive(pair[1]) for pair in self.country_weights)
        ):
            _bad(
                "country_weights",
                f"distinct (country, weight > 0) pairs, countries from {sorted(COUNTRIES)}",
                self.country_weights,
            )

    @property
    def mean_basket(self) -> float:
        """Expected basket value in EUR, ``p_spend * gamma / (q - 1)``."""
        return self.p_spend * self.gamma / (self.q - 1.0)


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _bad(name: str, expected: str, value: object) -> None:
    raise ConfigurationError(f"ShopParams.{name} must be {expected}, got {value!r}")


@dataclass(frozen=True, slots=True)
class ShopStats:
    """What :func:`write_shop` wrote: customers, orders, refund rows, all rows, the file."""

    customers: int
    orders: int
    refunds: int
    rows: int
    path: Path


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_args(customers: int, seed: int, start: date, end: date, params: ShopParams) -> int:
    customers = _check_int("customers", customers, 1)
    _check_int("seed", seed, 0)
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ConfigurationError(f"{name} must be a datetime.date, got {value!r}")
    if not start < end:
        raise ConfigurationError(f"start must be before end, got start={start} and end={end}")
    if not isinstance(params, ShopParams):
        raise ConfigurationError(f"params must be a ShopParams, got {type(params).__name__}")
    return customers


def _iter_blocks(
    customers: int, seed: int, calendar: Calendar, params: ShopParams
) -> Iterator[Rows]:
    zones = [COUNTRIES[code][0] for code, _ in params.country_weights]
    weights = np.array([weight for _, weight in params.country_weights], dtype=np.float64)
    country_p = weights / weights.sum()
    first_order = 0
    for index, first in enumerate(range(0, customers, BLOCK_CUSTOMERS)):
        size = min(BLOCK_CUSTOMERS, customers - first)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))
        rows, orders = simulate_block(
            rng, size, calendar, params, zones, country_p, first, first_order
        )
        yield rows
        first_order += orders


def _iter_chunks(
    customers: int, seed: int, calendar: Calendar, params: ShopParams, chunk_customers: int
) -> Iterator[tuple[int, Rows]]:
    """Rows of consecutive runs of ``chunk_customers`` customers (cut across blocks as needed)."""
    pending: list[Rows] = []
    cut = chunk_customers
    for rows in _iter_blocks(customers, seed, calendar, params):
        while True:
            head = rows.customer < cut
            if head.all():
                pending.append(rows)
                break
            pending.append(rows.select(head))
            yield cut, Rows.concat(pending)
            pending, rows, cut = [], rows.select(~head), cut + chunk_customers
    if pending:
        yield customers, Rows.concat(pending)


def _to_table(rows: Rows, params: ShopParams) -> pa.Table:
    """Rows as an orders-export table sorted by ordered_at, then order_id (then refund last)."""
    order = np.lexsort((rows.refund, rows.order, rows.ordered_at))
    rows = rows.select(order)
    codes = [code for code, _ in params.country_weights]
    country = pa.array(rows.country, type=pa.int64())

    def numbered(prefix: str, number: NDArray[np.int64], width: int) -> pa.Array:
        digits = pc.utf8_lpad(pa.array(number + 1).cast(pa.string()), width=width, padding="0")
        return pc.binary_join_element_wise(prefix, digits, "")

    columns = [
        numbered("C", rows.customer, 7),
        numbered("O", rows.order, 8),
        pa.array(rows.ordered_at, type=pa.timestamp("us", tz="UTC")),
        pa.array(rows.amount, type=pa.float64()),
        pa.repeat(pa.scalar(CURRENCY, pa.string()), len(rows.refund)),
        pc.if_else(pa.array(rows.refund), "refunded", "completed"),
        pc.take(pa.array(codes, pa.string()), country),
        pc.take(pa.array([COUNTRIES[c][1] for c in codes], pa.string()), country),
        pc.take(pa.array([COUNTRIES[c][0] for c in codes], pa.string()), country),
    ]
    return pa.Table.from_arrays(columns, schema=ORDERS_EXPORT_SCHEMA)


def generate_shop(
    customers: int,
    seed: int,
    *,
    start: date = date(2023, 1, 1),
    end: date = date(2026, 6, 30),
    params: ShopParams = ShopParams(),  # noqa: B008 (frozen, immutable default)
) -> pa.Table:
    """Generate the orders export of a synthetic shop, in memory.

    Parameters
    ----------
    customers : int
        Number of customers (>= 1); each has at least one order.
    seed : int
        Random seed (>= 0). The same arguments always give the same table.
    start, end : datetime.date
        The first and last day of the shop's history (``start < end``).
    params : ShopParams
        The behaviour model; see :class:`ShopParams`.

    Returns
    -------
    pyarrow.Table
        One row per order or refund, in :data:`ORDERS_EXPORT_SCHEMA`: ``customer_id``
        (``"C0000001"``...), ``order_id`` (``"O00000001"``..., numbered customer by customer),
        ``ordered_at`` (UTC), ``amount`` (EUR, negative for refunds), ``currency`` (``"EUR"``),
        ``status`` (``"completed"`` or ``"refunded"``), ``country``, ``locale``, ``timezone``.
        Sorted by ``ordered_at`` then ``order_id``.

    Examples
    --------
    >>> table = generate_shop(1_000, seed=7)
    >>> table.column_names[:3]
    ['customer_id', 'order_id', 'ordered_at']
    """
    customers = _check_args(customers, seed, start, end, params)
    calendar = build_calendar(start, end, params)
    rows = Rows.concat(list(_iter_blocks(customers, seed, calendar, params)))
    return _to_table(rows, params)


def write_shop(
    path: str | os.PathLike[str],
    customers: int,
    seed: int,
    *,
    start: date = date(2023, 1, 1),
    end: date = date(2026, 6, 30),
    params: ShopParams = ShopParams(),  # noqa: B008 (frozen, immutable default)
    chunk_customers: int = 100_000,
    progress: Callable[[int, int], None] | None = None,
) -> ShopStats:
    """Generate a synthetic shop straight into a Parquet file (zstd), chunk by chunk.

    Holds only ``chunk_customers`` customers in memory at a time, so millions of customers fit
    on a laptop. The rows are exactly those of ``generate_shop(customers, seed, start=start,
    end=end, params=params)``, but each chunk is sorted by ``ordered_at`` then ``order_id`` on
    its own: the file is sorted within chunks (row groups), not globally.

    Parameters
    ----------
    path : str or os.PathLike
        The Parquet file to write (replaced if it exists; removed again on failure).
    customers, seed, start, end, params
        As for :func:`generate_shop`.
    chunk_customers : int, default 100_000
        Customers per chunk (>= 1); bounds the memory used.
    progress : callable, optional
        Called as ``progress(customers_done, customers_total)`` after each chunk.

    Returns
    -------
    ShopStats
        The numbers of customers, orders, refund rows and rows written, and the path.
    """
    customers = _check_args(customers, seed, start, end, params)
    chunk_customers = _check_int("chunk_customers", chunk_customers, 1)
    if progress is not None and not callable(progress):
        raise ConfigurationError(f"progress must be callable or None, got {progress!r}")
    target = Path(path)
    calendar = build_calendar(start, end, params)
    orders = refunds = 0
    try:
        with pq.ParquetWriter(target, ORDERS_EXPORT_SCHEMA, compression="zstd") as writer:
            chunks = _iter_chunks(customers, seed, calendar, params, chunk_customers)
            for done, rows in chunks:
                writer.write_table(_to_table(rows, params))
                refunds += int(rows.refund.sum())
                orders += int(rows.refund.size - rows.refund.sum())
                if progress is not None:
                    progress(done, customers)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return ShopStats(customers, orders, refunds, orders + refunds, target)
