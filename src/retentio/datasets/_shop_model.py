"""The numerical core of the synthetic shop: its calendar and one block of customers.

Everything here is vectorised with numpy over the customers (and the orders) of a block; the
public functions in :mod:`retentio.datasets.synthetic` validate the arguments, number the ids
and turn blocks into Arrow tables.

The purchase process is the BG/NBD model of Fader, Hardie & Lee (2005), "'Counting your
customers' the easy way: an alternative to the Pareto/NBD model", *Marketing Science* 24(2):
while alive a customer buys as a Poisson process of rate ``lambda ~ Gamma(r, alpha)`` and, after
each repeat purchase, drops out for good with probability ``p ~ Beta(a, b)``. Spend follows the
Gamma-Gamma model of Fader & Hardie (2013), "The Gamma-Gamma model of monetary value": each
basket is ``Gamma(p_spend, nu)`` with ``nu ~ Gamma(q, gamma)`` per customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

if TYPE_CHECKING:
    from retentio.datasets.synthetic import ShopParams

__all__ = ["COUNTRIES", "Calendar", "Rows", "build_calendar", "simulate_block"]

# Country code -> (IANA time zone, locale). The interface speaks en, da and nl only, so German
# and Swedish shoppers get English and Belgian (Flemish) shoppers Dutch.
COUNTRIES: dict[str, tuple[str, str]] = {
    "DK": ("Europe/Copenhagen", "da"),
    "NL": ("Europe/Amsterdam", "nl"),
    "DE": ("Europe/Berlin", "en"),
    "SE": ("Europe/Stockholm", "en"),
    "BE": ("Europe/Brussels", "nl"),
}

# Relative share of orders placed in each local hour 0-23: quiet nights, a morning climb, a
# lunch plateau and the evening peak around 20:00 typical of European web shops.
_HOUR_WEIGHTS = np.array(
    [1.0, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.2, 3.0, 3.5, 3.8,
     4.2, 4.0, 3.8, 3.7, 3.8, 4.0, 4.3, 5.0, 5.6, 5.2, 3.8, 2.2],
)  # fmt: skip
_HOUR_CDF = np.cumsum(_HOUR_WEIGHTS) / _HOUR_WEIGHTS.sum()

_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND
_EPOCH = date(1970, 1, 1)
_REFUND_DELAY_DAYS = (1.0, 30.0)
_PARTIAL_REFUND_FRACTION = (0.1, 0.9)


@dataclass(frozen=True, slots=True)
class Calendar:
    """Day-level curves over the shop's period, day 0 being ``start``."""

    start: date
    days: int
    acquisition_cdf: NDArray[np.float64]  # cumulative share of first purchases up to each day
    intensity_cum: NDArray[np.float64]  # cumulative repeat-purchase intensity at day bounds

    @property
    def start_us(self) -> int:
        """``start`` at 00:00 UTC, in microseconds since the epoch."""
        return (self.start - _EPOCH).days * _US_PER_DAY

    @property
    def end_us(self) -> int:
        """The end of the last day (exclusive) at 24:00 UTC, in microseconds since the epoch."""
        return self.start_us + self.days * _US_PER_DAY


def _black_friday_weekends(start: date, end: date) -> list[date]:
    """Black Friday (the day after the fourth Thursday of November) of each year in range."""
    fridays = []
    for year in range(start.year, end.year + 1):
        first = date(year, 11, 1)
        thanksgiving = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
        fridays.append(thanksgiving + timedelta(days=1))
    return fridays


def build_calendar(start: date, end: date, params: ShopParams) -> Calendar:
    """Seasonality and growth for every day of ``[start, end]``."""
    days = (end - start).days + 1
    day = np.arange(days)
    dates = np.datetime64(start.isoformat(), "D") + day
    month = dates.astype("datetime64[M]").astype(np.int64) % 12
    seasonal = np.asarray(params.month_weights, dtype=np.float64)[month]
    for friday in _black_friday_weekends(start, end):
        # Black Friday to Cyber Monday
        first = (friday - start).days
        seasonal[max(first, 0) : max(first + 4, 0)] *= params.black_friday_boost
    growth = (1.0 + params.growth_per_year) ** (day / 365.25)
    acquisition = np.cumsum(seasonal * growth)
    # Repeat purchases follow the same seasons, damped by seasonal_repeats; the intensity has
    # mean 1 so "operational" time runs at the calendar's pace on average.
    repeat = 1.0 + params.seasonal_repeats * (seasonal / seasonal.mean() - 1.0)
    repeat /= repeat.mean()
    return Calendar(
        start=start,
        days=days,
        acquisition_cdf=acquisition / acquisition[-1],
        intensity_cum=np.concatenate(([0.0], np.cumsum(repeat))),
    )


@dataclass(frozen=True, slots=True)
class Rows:
    """Generated rows, numbered globally, before they become strings in an Arrow table.

    A block lists its orders customer by customer, then its refunds.
    """

    customer: NDArray[np.int64]  # 0-based global customer number
    order: NDArray[np.int64]  # 0-based global order number
    ordered_at: NDArray[np.int64]  # microseconds since the epoch, UTC
    amount: NDArray[np.float64]
    refund: NDArray[np.bool_]
    country: NDArray[np.int64]

    def select(self, rows: NDArray[np.bool_] | NDArray[np.int64]) -> Rows:
        return Rows(
            self.customer[rows],
            self.order[rows],
            self.ordered_at[rows],
            self.amount[rows],
            self.refund[rows],
            self.country[rows],
        )

    @classmethod
    def concat(cls, parts: list[Rows]) -> Rows:
        return cls(
            np.concatenate([p.customer for p in parts]),
            np.concatenate([p.order for p in parts]),
            np.concatenate([p.ordered_at for p in parts]),
            np.concatenate([p.amount for p in parts]),
            np.concatenate([p.refund for p in parts]),
            np.concatenate([p.country for p in parts]),
        )


def _time_of_day(rng: np.random.Generator, size: int) -> NDArray[np.int64]:
    """Seconds after local midnight, following the hourly profile."""
    hour = np.searchsorted(_HOUR_CDF, rng.random(size), side="right").astype(np.int64)
    return np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, size=size)


def _local_to_utc(
    local_us: NDArray[np.int64], country: NDArray[np.int64], zones: list[str]
) -> NDArray[np.int64]:
    """Wall-clock times in each row's zone to UTC (ambiguous: standard time; gaps: forward)."""
    utc = np.empty_like(local_us)
    for index, zone in enumerate(zones):
        rows = country == index
        if not rows.any():
            continue
        wall = pd.DatetimeIndex(local_us[rows].astype("datetime64[us]"))
        aware = wall.tz_localize(
            zone, ambiguous=np.zeros(int(rows.sum()), dtype=np.bool_), nonexistent="shift_forward"
        )
        utc[rows] = aware.as_unit("us").asi8
    return utc


def simulate_block(
    rng: np.random.Generator,
    customers: int,
    calendar: Calendar,
    params: ShopParams,
    zones: list[str],
    country_p: NDArray[np.float64],
    first_customer: int,
    first_order: int,
) -> tuple[Rows, int]:
    """Simulate ``customers`` customers: acquisition, BG/NBD purchases, baskets, refunds.

    Customers are numbered from ``first_customer`` and orders from ``first_order`` (0-based);
    returns the rows and the number of orders (refunds excluded).
    """
    n = customers
    country = rng.choice(len(country_p), size=n, p=country_p).astype(np.int64)
    first_day = np.searchsorted(calendar.acquisition_cdf, rng.random(n), side="right")
    first_day = np.minimum(first_day, calendar.days - 1).astype(np.int64)
    first_second = _time_of_day(rng, n)
    rate = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    dropout = np.clip(rng.beta(params.a, params.b, size=n), 1e-12, 1.0)
    nu = rng.gamma(params.q, 1.0 / params.gamma, size=n)

    # Repeat purchases: a Poisson process over the rest of the period (in seasonal "operational"
    # time) stopped by the BG/NBD dropout coin, which allows at most Geometric(p) repeats.
    grid = np.arange(calendar.days + 1, dtype=np.float64)
    t0 = first_day + first_second / 86_400.0
    c0 = np.interp(t0, grid, calendar.intensity_cum)
    window = calendar.intensity_cum[-1] - c0
    possible = rng.poisson(rate * window)
    lifetime = rng.geometric(dropout)
    repeats = np.minimum(possible, lifetime).astype(np.int64)

    # The repeat times are the first `repeats` of `possible` sorted uniform points on the
    # window: U_(j) = S_j / S_(possible+1), S the partial sums of unit exponentials.
    owner = np.repeat(np.arange(n), repeats)
    ends = np.cumsum(repeats)
    starts = ends - repeats
    sums = np.concatenate(([0.0], np.cumsum(rng.standard_exponential(int(ends[-1])))))
    partial = sums[1:] - sums[starts][owner]
    total = sums[ends] - sums[starts] + rng.gamma(possible - repeats + 1.0, 1.0)
    when = c0[owner] + window[owner] * partial / total[owner]
    repeat_day = np.interp(when, calendar.intensity_cum, grid).astype(np.int64)
    repeat_day = np.minimum(repeat_day, calendar.days - 1)
    repeat_second = _time_of_day(rng, repeat_day.size)

    # Lay the rows out customer by customer: first purchase, then the repeats in time order.
    counts = repeats + 1
    row_start = np.cumsum(counts) - counts
    orders = int(counts.sum())
    row_customer = np.repeat(np.arange(n, dtype=np.int64), counts)
    repeat_row = row_start[owner] + 1 + (np.arange(owner.size) - starts[owner])
    day = np.empty(orders, dtype=np.int64)
    second = np.empty(orders, dtype=np.int64)
    day[row_start], second[row_start] = first_day, first_second
    day[repeat_row], second[repeat_row] = repeat_day, repeat_second
    basket = rng.gamma(params.p_spend, 1.0 / nu[row_customer])
    amount = np.maximum(np.round(basket, 2), 0.01)

    local = calendar.start_us + day * _US_PER_DAY + second * _US_PER_SECOND
    row_country = country[row_customer]
    ordered_at = _local_to_utc(local, row_country, zones)
    # A wall-clock time near midnight can fall on the day before start (or after end) in UTC:
    # move it one day so every order lies within the period in UTC as well.
    ordered_at[ordered_at < calendar.start_us] += _US_PER_DAY
    ordered_at[ordered_at >= calendar.end_us] -= _US_PER_DAY

    # Refunds: the same order id, a negative full or partial amount, 1-30 days later; refunds
    # that would fall after the end of the period have not happened yet and are left out.
    refunded = np.flatnonzero(rng.random(orders) < params.refund_rate)
    delay = rng.uniform(*_REFUND_DELAY_DAYS, size=refunded.size)
    is_partial = rng.random(refunded.size) < params.partial_refund_share
    fraction = rng.uniform(*_PARTIAL_REFUND_FRACTION, size=refunded.size)
    refund_at = ordered_at[refunded] + np.round(delay * 86_400).astype(np.int64) * _US_PER_SECOND
    refund_amount = np.where(
        is_partial,
        np.maximum(np.round(amount[refunded] * fraction, 2), 0.01),
        amount[refunded],
    )
    keep = refund_at < calendar.end_us
    refunded, refund_at, refund_amount = refunded[keep], refund_at[keep], refund_amount[keep]

    order = np.arange(orders, dtype=np.int64)
    rows = Rows(
        customer=np.concatenate((row_customer, row_customer[refunded])) + first_customer,
        order=np.concatenate((order, refunded)) + first_order,
        ordered_at=np.concatenate((ordered_at, refund_at)),
        amount=np.concatenate((amount, -refund_amount)),
        refund=np.concatenate((np.zeros(orders, np.bool_), np.ones(refunded.size, np.bool_))),
        country=np.concatenate((row_country, row_country[refunded])),
    )
    return rows, orders
