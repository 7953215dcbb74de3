"""Loyalty analytics: members against other customers, redemption, the points liability and
the tiers. Pure functions over tables: no database, no clock.

The tables are pyarrow Tables or pandas (or polars) DataFrames with these columns;
``retentio.store.loyalty_arrow.read_loyalty`` reads them from the store.

**members**, one row per loyalty account (:data:`LOYALTY_MEMBERS_SCHEMA`):

| column      | type                  | meaning                                                  |
|-------------|-----------------------|----------------------------------------------------------|
| customer_id | string                | the shop's customer id, as in the transactions           |
| joined_at   | timestamp[us, tz=UTC] | the account was made or its first points were earned,    |
|             |                       | whichever came first (null: counted as a member always)  |
| tier        | string (nullable)     | the tier held now; null: none                            |
| available   | int64                 | points that can be spent (below 0 after some refunds)    |
| pending     | int64                 | points waiting out the return window                     |
| earned      | int64                 | points ever earned, less what refunds took back          |

**entries**, the ledger, one row per change (:data:`LOYALTY_ENTRIES_SCHEMA`): customer_id;
``kind`` (earn, release, redeem, expire, adjust, reverse); ``points`` (the change to available)
and ``pending_points`` (the change to pending), int64; ``rule`` (nullable: spend, an action's
name, referral, manual, or reward on a cancelled reward's refund); ``order_id`` (nullable);
``amount_minor`` (nullable int64); ``occurred_at``.

**tier_changes**, one row per move (:data:`TIER_CHANGES_SCHEMA`): customer_id; ``from_tier``
and ``to_tier`` (nullable: no tier); ``direction`` (up, down, backfill); ``qualifying``
(int64: spend in minor units or points); ``changed_at``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import pandas as pd
import pyarrow as pa

from retentio.analytics._input import as_date
from retentio.analytics.value import customer_value
from retentio.core.errors import ConfigurationError, SchemaError
from retentio.core.money import minor_unit_exponent

__all__ = [
    "DAYS_PER_YEAR",
    "LOYALTY_ENTRIES_SCHEMA",
    "LOYALTY_MEMBERS_SCHEMA",
    "TIER_CHANGES_SCHEMA",
    "PointsLiability",
    "Redemption",
    "member_comparison",
    "points_liability",
    "redemption_rate",
    "tier_distribution",
    "tier_migration",
]

DAYS_PER_YEAR = 365.25
"""The year of ``purchase_frequency`` (orders per customer-year), leap years included."""

_TEXT, _INT, _UTC_US = pa.string(), pa.int64(), pa.timestamp("us", tz="UTC")


def _schema(table: str, fields: str, types: Sequence[pa.DataType]) -> pa.Schema:
    """``fields``: the column names, a trailing ``?`` marking the nullable ones."""
    names = fields.split()
    return pa.schema(
        [
            pa.field(name.rstrip("?"), kind, nullable=name.endswith("?"))
            for name, kind in zip(names, types, strict=True)
        ],
        metadata={b"retentio.table": table.encode(), b"retentio.version": b"1"},
    )


LOYALTY_MEMBERS_SCHEMA = _schema(
    "loyalty_members",
    "customer_id joined_at? tier? available pending earned",
    [_TEXT, _UTC_US, _TEXT, _INT, _INT, _INT],
)
LOYALTY_ENTRIES_SCHEMA = _schema(
    "loyalty_entries",
    "customer_id kind points pending_points rule? order_id? amount_minor? occurred_at",
    [_TEXT, _TEXT, _INT, _INT, _TEXT, _TEXT, _INT, _UTC_US],
)
TIER_CHANGES_SCHEMA = _schema(
    "loyalty_tier_changes",
    "customer_id from_tier? to_tier? direction qualifying changed_at",
    [_TEXT, _TEXT, _TEXT, _TEXT, _INT, _UTC_US],
)

_COUNTS = ["customers", "orders", "repeat_customers"]
_TOTALS = ["revenue", "customer_years"]
_PER_CUSTOMER = ["repeat_purchase_rate", "average_order_value", "purchase_frequency"]


def _frame(table: object, name: str, required: Sequence[str]) -> pd.DataFrame:
    """``table`` as pandas, with a clear error naming the columns it lacks."""
    if isinstance(table, pd.DataFrame):
        frame = table
    elif hasattr(table, "to_pandas"):
        frame = table.to_pandas()
    else:
        raise ConfigurationError(
            f"{name}: cannot use a {type(table).__name__}; pass a pyarrow Table or a pandas "
            "or polars DataFrame"
        )
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {', '.join(missing)}")
    return frame


def _utc(values: pd.Series) -> pd.Series:
    """Timestamps as UTC (naive ones taken as UTC already)."""
    return pd.to_datetime(values, utc=True)


def _day_start(day: date) -> pd.Timestamp:
    return pd.Timestamp(day.isoformat(), tz="UTC")


def _within(stamps: pd.Series, start: object | None, end: object | None) -> pd.Series:
    """Which of ``stamps`` fall on the UTC days ``start`` to ``end`` (both inclusive)."""
    keep = pd.Series(True, index=stamps.index)
    if start is not None:
        keep &= stamps >= _day_start(as_date(start, "start"))
    if end is not None:
        keep &= stamps < _day_start(as_date(end, "end") + timedelta(days=1))
    return keep


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _group(people: pd.DataFrame, end: date) -> dict[str, Any]:
    """The figures of one group of customers (rows of :func:`customer_value`)."""
    customers = len(people)
    orders = int(people["orders"].sum())
    repeat = int((people["orders"] >= 2).sum())
    revenue = float(people["revenue"].sum())
    first = pd.to_datetime(people["first_purchase"])
    days = float(((pd.Timestamp(end) - first).dt.days + 1).sum()) if customers else 0.0
    years = days / DAYS_PER_YEAR
    return {
        "customers": customers,
        "orders": orders,
        "repeat_customers": repeat,
        "revenue": revenue,
        "customer_years": years,
        "repeat_purchase_rate": _ratio(repeat, customers),
        "average_order_value": _ratio(revenue, orders),
        "purchase_frequency": _ratio(orders, years),
        "historical_clv": _ratio(revenue, customers),
    }


def member_comparison(
    transactions: object, members: object, *, observation_end: object
) -> pd.DataFrame:
    """Members of the loyalty programme against the other customers.

    A member is a customer with a loyalty account that existed by ``observation_end``
    (``joined_at`` on or before that day); membership is today's, so a member's orders from
    before they joined count too. The comparison describes the two groups; it does not say the
    programme caused the difference (customers who join may be the keener ones).

    Parameters
    ----------
    transactions
        Normalised transactions (see :func:`retentio.load_transactions`).
    members
        The members table (``customer_id``, ``joined_at``; see the module's docstring).
    observation_end
        Last day (inclusive) of the orders counted.

    Returns
    -------
    pandas.DataFrame
        Three rows, ``group`` = ``members``, ``non_members`` and ``difference`` (members less
        non-members), with the columns

        * ``customers``: customers with a purchase by ``observation_end`` (a member who has
          bought nothing is not counted); ``orders``; ``repeat_customers`` (2+ orders);
        * ``revenue``: net of refunds; ``customer_years``: the sum, over the group's
          customers, of the days from their first purchase to ``observation_end`` (both
          counted), over :data:`DAYS_PER_YEAR`;
        * ``repeat_purchase_rate = repeat_customers / customers``;
        * ``average_order_value = revenue / orders``;
        * ``purchase_frequency = orders / customer_years``: orders per customer per year
          they have been a customer, pooled over the group (so a customer of a week weighs a
          week, not a year);
        * ``historical_clv = revenue / customers``: net revenue per customer to date, the
          ``historical_clv`` of :func:`retentio.historical_clv` for the group's orders.

        The counts, ``revenue`` and ``customer_years`` are missing in the ``difference`` row;
        a group without customers has missing ratios.

    Raises
    ------
    EmptyDataError
        When nobody bought by ``observation_end``.
    """
    end = as_date(observation_end)
    table = _frame(members, "members", ("customer_id", "joined_at"))
    joined = _utc(table["joined_at"])
    member_ids = set(table.loc[joined.isna() | _within(joined, None, end), "customer_id"])
    people = customer_value(transactions, observation_end=end)
    is_member = people["customer_id"].isin(member_ids)
    rows = {
        "members": _group(people[is_member], end),
        "non_members": _group(people[~is_member], end),
    }
    difference = {
        column: float(rows["members"][column]) - float(rows["non_members"][column])
        for column in [*_PER_CUSTOMER, "historical_clv"]
    }
    out = pd.DataFrame.from_dict({**rows, "difference": difference}, orient="index")
    out[_COUNTS] = out[_COUNTS].astype("Int64")
    out[_TOTALS] = out[_TOTALS].astype("float64")
    out.index.name = "group"
    return out.reset_index()


@dataclass(frozen=True, slots=True)
class Redemption:
    """How much of what members earned they spent (see :func:`redemption_rate`)."""

    points_earned: int
    points_redeemed: int
    points_expired: int
    redemption_rate: float
    redemptions: int
    members: int
    redeemers: int
    redeemer_share: float


def redemption_rate(
    entries: object,
    *,
    members: object | None = None,
    start: object | None = None,
    end: object | None = None,
) -> Redemption:
    """The points redeemed against the points earned, and the share of members who redeemed.

    Parameters
    ----------
    entries
        The ledger (``customer_id``, ``kind``, ``points``, ``pending_points``, ``rule``,
        ``occurred_at``; see the module's docstring).
    members
        The members table; its ``customer_id`` count is the denominator of
        ``redeemer_share``. Without it, the members are the customers with an entry.
    start, end
        First and last UTC day (inclusive) of the entries counted; default: all.

    Returns
    -------
    Redemption
        ``points_earned``: the points of ``earn`` entries (pending and available) plus those
        of ``reverse`` entries that take back a refunded order's points (negative);
        ``points_redeemed``: the points spent by ``redeem`` entries less those refunded by
        cancelled rewards (``reverse`` entries with ``rule`` ``reward``); ``points_expired``:
        the points ``expire`` entries took; ``redemption_rate = points_redeemed /
        points_earned`` (NaN when nothing was earned); ``redemptions``: redeem entries less
        cancelled rewards; ``redeemers``: members whose redeemed points are above 0;
        ``redeemer_share = redeemers / members`` (NaN without members).
    """
    needed = ["customer_id", "kind", "points", "pending_points", "rule"]
    windowed = start is not None or end is not None
    ledger = _frame(entries, "entries", [*needed, *(["occurred_at"] if windowed else [])])
    if windowed:
        ledger = ledger[_within(_utc(ledger["occurred_at"]), start, end)]
    points = ledger["points"].astype("int64")
    moved = points + ledger["pending_points"].astype("int64")
    kind = ledger["kind"]
    cancelled = (kind == "reverse") & (ledger["rule"] == "reward")
    spending = (kind == "redeem") | cancelled
    spent_by = (-points[spending]).groupby(ledger.loc[spending, "customer_id"]).sum()
    if members is None:
        count = int(ledger["customer_id"].nunique())
    else:
        count = int(_frame(members, "members", ("customer_id",))["customer_id"].nunique())
    earned = int(moved[(kind == "earn") | ((kind == "reverse") & ~cancelled)].sum())
    redeemed = int(spent_by.sum())
    redeemers = int((spent_by > 0).sum())
    return Redemption(
        points_earned=earned,
        points_redeemed=redeemed,
        points_expired=-int(points[kind == "expire"].sum()),
        redemption_rate=_ratio(redeemed, earned),
        redemptions=int(((kind == "redeem") & (points < 0)).sum() - cancelled.sum()),
        members=count,
        redeemers=redeemers,
        redeemer_share=_ratio(redeemers, count),
    )


@dataclass(frozen=True, slots=True)
class PointsLiability:
    """The points members hold and what they are worth (see :func:`points_liability`)."""

    members: int
    available_points: int
    pending_points: int
    negative_points: int
    value_per_point: Decimal | None
    currency: str | None
    available_value: Decimal | None
    pending_value: Decimal | None

    @property
    def outstanding_points(self) -> int:
        """Available and pending points together."""
        return self.available_points + self.pending_points

    @property
    def outstanding_value(self) -> Decimal | None:
        """Their value in money; None when a point has no value given."""
        if self.available_value is None or self.pending_value is None:
            return None
        return self.available_value + self.pending_value


def _money(points: int, value_per_point: Decimal, currency: str | None) -> Decimal:
    exponent = minor_unit_exponent(currency) if currency else 2
    return (points * value_per_point).quantize(Decimal(1).scaleb(-exponent), ROUND_HALF_EVEN)


def points_liability(
    members: object, value_per_point: Decimal | float | str | None, currency: str | None
) -> PointsLiability:
    """The points members hold (the programme's liability) and their value in money.

    Parameters
    ----------
    members
        The members table (``available``, ``pending``; see the module's docstring).
    value_per_point
        Money (major units of ``currency``) one point is worth, e.g.
        ``Programme.value_per_point()``; None: points only, no values.
    currency
        ISO 4217 code of the values; they are rounded (half to even) to its minor unit.

    Returns
    -------
    PointsLiability
        ``available_points``: the sum of the positive available balances (a member below 0
        after a refund owes points; that does not lower what is owed to the others);
        ``negative_points``: the sum of the balances below 0 (0 or less); ``pending_points``:
        points still in the return window (a refund may take them back);
        ``available_value`` and ``pending_value``: those points times ``value_per_point``, or
        None without it; ``outstanding_points`` and ``outstanding_value``: both together.
    """
    table = _frame(members, "members", ("available", "pending"))
    available = table["available"].astype("int64")
    pending = table["pending"].astype("int64")
    rate: Decimal | None = None
    if value_per_point is not None:
        try:
            rate = Decimal(str(value_per_point))
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite() or rate < 0:
            raise ConfigurationError(
                f"value_per_point: a number of 0 or more, got {value_per_point!r}"
            )
    positive = int(available.clip(lower=0).sum())
    held = int(pending.clip(lower=0).sum())
    code = currency.upper() if currency else None
    return PointsLiability(
        members=len(table),
        available_points=positive,
        pending_points=held,
        negative_points=int(available.clip(upper=0).sum()),
        value_per_point=rate,
        currency=code,
        available_value=None if rate is None else _money(positive, rate, code),
        pending_value=None if rate is None else _money(held, rate, code),
    )


def tier_distribution(members: object, levels: Sequence[str]) -> pd.DataFrame:
    """Members per tier.

    Parameters
    ----------
    members
        The members table (``tier``; see the module's docstring).
    levels
        The programme's tier names, lowest first (``[t.name for t in programme.tiers.levels]``);
        empty without tiers.

    Returns
    -------
    pandas.DataFrame
        ``tier, members, share`` (of all members; NaN without members): one row per level in
        ``levels`` order (0 members too), then tiers members hold that are not among
        ``levels`` (a level since removed), by name, then one row with ``tier`` None for the
        members without a tier.
    """
    tiers = _frame(members, "members", ("tier",))["tier"]
    held = tiers.dropna().astype(str)
    counts = held.value_counts()
    names = list(dict.fromkeys(levels)) + sorted(set(counts.index) - set(levels))
    rows = [(name, int(counts.get(name, 0))) for name in names]
    rows.append((None, int(tiers.isna().sum())))
    out = pd.DataFrame(rows, columns=["tier", "members"]).astype({"members": "int64"})
    total = len(tiers)
    out["share"] = out["members"] / total if total else math.nan
    return out


def tier_migration(
    tier_changes: object,
    *,
    start: object,
    end: object,
    levels: Sequence[str] = (),
) -> pd.DataFrame:
    """Moves between tiers in a window: how many members went from which tier to which.

    Parameters
    ----------
    tier_changes
        The tier changes (``from_tier``, ``to_tier``, ``direction``, ``changed_at``; see the
        module's docstring).
    start, end
        First and last UTC day (both inclusive) of the moves counted.
    levels
        The programme's tier names, lowest first: the order of the rows.

    Returns
    -------
    pandas.DataFrame
        ``from_tier, to_tier, direction, moves``: one row per (from, to, direction) with a
        move in the window, ``None`` standing for no tier; ``direction`` is ``up``, ``down``
        or ``backfill`` (a tier set from history). Ordered by the rank of ``from_tier`` then
        of ``to_tier`` (no tier first, tiers not in ``levels`` last, by name).
    """
    changes = _frame(
        tier_changes, "tier_changes", ("from_tier", "to_tier", "direction", "changed_at")
    )
    if as_date(start, "start") > as_date(end, "end"):
        raise ConfigurationError(f"start {start} is after end {end}")
    moved = changes[_within(_utc(changes["changed_at"]), start, end)]
    columns = ["from_tier", "to_tier", "direction"]
    keys = moved[columns].astype(object).where(moved[columns].notna(), None)
    counted = Counter(keys.itertuples(index=False, name=None))
    rank: dict[str | None, int] = {None: -1, **{name: i for i, name in enumerate(levels)}}

    def order(key: tuple[Any, ...]) -> tuple[Any, ...]:
        source, target, direction = key
        return (
            rank.get(source, len(levels)),
            source or "",
            rank.get(target, len(levels)),
            target or "",
            direction,
        )

    rows = [(*key, counted[key]) for key in sorted(counted, key=order)]
    return pd.DataFrame(rows, columns=[*columns, "moves"]).astype({"moves": "int64"})
