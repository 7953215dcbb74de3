"""The backfill's input: the normalised transactions table read into arrays and checked (a
DataError names the first bad rows, and nothing is written), then the orders that earn points,
each with its points (``spend_points_of``) and its refunds summed, and the rows left out
counted by why; pure, no database."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from retentio.analytics.loading import DEFAULT_EXCLUDED_STATUSES
from retentio.core.errors import DataError, SchemaError
from retentio.core.money import minor_unit_exponent
from retentio.loyalty._backfill_time import DAY, Bools, Ints
from retentio.loyalty.programme import Programme

__all__ = [
    "Orders",
    "Rows",
    "checked_rows",
    "count_skipped",
    "earning_orders",
    "per_member",
    "spend_points_of",
]

EXCLUDED = list(DEFAULT_EXCLUDED_STATUSES)  # statuses of rows that are no orders
_LISTED = 20
_REQUIRED = ("customer_id", "order_id", "ordered_at", "amount", "currency", "is_refund")


def spend_points_of(programme: Programme, net_minor: Ints) -> Ints:
    """``order_points`` of net amounts in the programme's currency (no lines, multiplier 1)
    in exact integer arithmetic: rounding(net * rate / 10 ** exponent)."""
    rule = programme.earn
    numerator, denominator = rule.points_per_unit.as_integer_ratio()
    scale = denominator * 10 ** minor_unit_exponent(programme.currency)
    net = np.asarray(net_minor, dtype=np.int64)
    big = net.size > 0 and int(net.max()) * numerator * 2 + scale >= 2**62
    exact = (net.astype(object) if big else net) * numerator  # beyond int64: Python ints
    if rule.rounding == "up":
        points = -((-exact) // scale)
    elif rule.rounding == "nearest":  # half up, on positive values
        points = (2 * exact + scale) // (2 * scale)
    else:
        points = exact // scale
    earns = (net > 0) & (net >= rule.minimum_order_minor)
    return np.where(earns, np.maximum(points, 0), 0).astype(np.int64)


@dataclass(slots=True)
class Rows:
    """The input's columns as arrays, ids as indexes into ``customers`` and ``orders``."""

    customer: Ints
    customers: list[str]
    order: Ints
    orders: list[str]
    at: Ints
    minor: Ints  # in the programme's currency's minor units
    ours: Bools  # in the programme's currency
    refund: Bools
    live: Bools  # not excluded by its status (cancelled, pending, ...)


def _codes(column: pa.ChunkedArray) -> tuple[Ints, list[str]]:
    """Each value's index in the distinct values (-1: null), and those values."""
    encoded = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return np.nan_to_num(codes, nan=-1).astype(np.int64), encoded.dictionary.to_pylist()


def _mask(values: pa.ChunkedArray, null: bool) -> Bools:
    return np.asarray(pc.fill_null(values, null).to_numpy(zero_copy_only=False), dtype=bool)


def checked_rows(table: pa.Table, programme: Programme, now_us: int) -> Rows:
    """The rows, checked: a DataError names the bad ones (arrays throughout: a million rows
    are checked in about a second)."""
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise SchemaError(f"the orders lack the column(s) {', '.join(missing)}")
    kind = table.schema.field("ordered_at").type
    if not pa.types.is_timestamp(kind) or kind.tz is None:
        raise SchemaError(f"ordered_at: timestamps with a time zone, not {kind}")
    stamps = pc.cast(table["ordered_at"], pa.timestamp("us", tz="UTC")).cast(pa.int64())
    amount = table["amount"].cast(pa.float64()).to_numpy(zero_copy_only=False)
    scaled = np.nan_to_num(amount) * 10 ** minor_unit_exponent(programme.currency)
    currency = pc.utf8_upper(table["currency"].cast(pa.string()))
    live = np.ones(len(table), dtype=bool)
    if "status" in table.column_names:
        status = pc.utf8_lower(table["status"].cast(pa.string()))
        live = ~_mask(pc.is_in(status, pa.array(EXCLUDED)), False)
    rows = Rows(
        *_codes(table["customer_id"]), *_codes(table["order_id"]),
        at=np.asarray(pc.fill_null(stamps, 0).to_numpy(zero_copy_only=False), dtype=np.int64),
        minor=np.rint(scaled).astype(np.int64),
        ours=_mask(pc.equal(currency, programme.currency), False),
        refund=_mask(table["is_refund"].cast(pa.bool_()), False),
        live=live,
    )  # fmt: skip
    problems: list[tuple[NDArray[Any], str]] = [
        (_mask(pc.is_null(currency), False), "currency: missing"),
        (_mask(pc.is_null(table["is_refund"]), False), "is_refund: missing"),
        (_mask(pc.is_null(stamps), False), "ordered_at: missing"),
        (rows.at > now_us, "ordered_at: after now"),
        (~np.isfinite(amount), "amount: missing or not a number"),
        (~rows.refund & (amount < 0), "amount: negative on an order (a refund needs is_refund)"),
        (rows.refund & (amount > 0), "amount: positive on a refund"),
        (rows.ours & (np.abs(scaled - rows.minor) > 1e-3),
         f"amount: more decimals than {programme.currency} has"),
    ]  # fmt: skip
    for name in ("customer_id", "order_id"):
        text = table[name].cast(pa.string())
        empty = _mask(pc.equal(pc.utf8_trim_whitespace(text), ""), True)
        problems.append((empty, f"{name}: missing"))
        long = _mask(pc.greater(pc.utf8_length(text), 200), False)
        problems.append((long, f"{name}: over 200 characters"))
    purchases = np.flatnonzero(rows.live & ~rows.refund)
    first = np.unique(rows.order[purchases], return_index=True)[1]
    again = np.ones(purchases.size, dtype=bool)
    again[first] = False
    problems.append((purchases[again], "order_id: the order is on an earlier row already"))
    owner = np.full(len(rows.orders) + 1, -1)  # each order's customer (the last slot: no id)
    owner[rows.order[purchases[first]]] = rows.customer[purchases[first]]
    stranger = (owner[rows.order] >= 0) & (owner[rows.order] != rows.customer)
    problems.append((rows.live & rows.refund & stranger, "customer_id: not the order's customer"))
    _refuse(problems, rows)
    return rows


def _refuse(problems: list[tuple[NDArray[Any], str]], rows: Rows) -> None:
    """A DataError naming the first bad rows, if any: ``problems`` are (the rows, as a mask or
    positions, and what is wrong with them)."""
    bad = np.zeros(rows.at.size, dtype=bool)
    listed: list[tuple[int, str]] = []
    for where, message in problems:
        positions = np.flatnonzero(where) if where.dtype == bool else where
        bad[positions] = True
        listed += [(int(i), message) for i in positions[:_LISTED]]
    if not listed:
        return
    listed.sort()
    named = "; ".join(
        f"row {i + 1} (order {rows.orders[rows.order[i]] if rows.order[i] >= 0 else '-'}): {m}"
        for i, m in listed[:_LISTED]
    )
    more = f" (the first {_LISTED} problems)" if len(listed) > _LISTED else ""
    raise DataError(
        f"{int(bad.sum())} of {bad.size} row(s) are invalid, so nothing was written: {named}{more}"
    )


@dataclass(slots=True)
class Orders:
    """The orders that earn points, one element each; ``customer`` indexes the customers."""

    order: NDArray[np.object_]
    customer: Ints
    at: Ints
    minor: Ints
    points: Ints
    refunded: Ints  # minor units refunded in all ...
    early: Ints  # ... and of them inside the return window
    refund_at: Ints  # the last refund (never before the order); -1: none

    def keep(self, mask: Bools) -> Orders:
        return Orders(*(getattr(self, f.name)[mask] for f in fields(self)))


def earning_orders(rows: Rows, programme: Programme, skipped: dict[str, int]) -> Orders:
    """The orders that earn points, their refunds summed, in order-id order: the ledger's
    unique key index then grows at its end (on SQLite 1M entries took 10 s, against 24 s in
    time order when the shop's order ids do not follow time)."""
    count_skipped(skipped, "excluded by status (rows)", int((~rows.live).sum()))
    purchases = np.flatnonzero(rows.live & ~rows.refund)
    count_skipped(skipped, f"not in {programme.currency}", int((~rows.ours[purchases]).sum()))
    bought = purchases[rows.ours[purchases]]
    points = spend_points_of(programme, rows.minor[bought])
    count_skipped(skipped, "earn no points (amount, minimum order)", int((points == 0).sum()))
    bought, points = bought[points > 0], points[points > 0]
    slot = np.full(len(rows.orders) + 1, -1)  # order -> its place in ``bought``; -2: no points
    slot[rows.order[purchases]] = -2
    slot[rows.order[bought]] = np.arange(bought.size)
    refunds = np.flatnonzero(rows.live & rows.refund)
    which = slot[rows.order[refunds]]
    count_skipped(skipped, "refund rows of orders not in the input", int((which == -1).sum()))
    refunds, which = refunds[which >= 0], which[which >= 0]
    placed = rows.at[bought][which]
    when = np.maximum(rows.at[refunds], placed)
    paid = -rows.minor[refunds]
    early = when < placed + programme.pending_days * DAY
    last = np.full(bought.size, -1, dtype=np.int64)
    np.maximum.at(last, which, when)
    found = Orders(
        order=np.array(rows.orders, dtype=object)[rows.order[bought]],
        customer=rows.customer[bought],
        at=rows.at[bought],
        minor=rows.minor[bought],
        points=points,
        refunded=per_member(which, paid, bought.size),
        early=per_member(which, paid * early, bought.size),
        refund_at=last,
    )
    return found.keep(pc.array_sort_indices(pa.array(found.order, pa.string())).to_numpy())


def per_member(m: Ints, values: Any, members: int) -> Ints:
    """The sums of ``values`` by group ``m`` (0 to ``members`` - 1), rounded to integers."""
    return np.bincount(m, weights=values, minlength=members).round().astype(np.int64)


def count_skipped(skipped: dict[str, int], reason: str, number: int) -> None:
    if number:
        skipped[reason] = skipped.get(reason, 0) + number
