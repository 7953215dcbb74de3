"""Replay historical orders into the points ledger in bulk (``retentio loyalty backfill``).

The ledger it writes is the one replaying each order one by one would leave (``earn_for_order``
when it was placed, ``release_due`` as return windows end, ``reverse_for_refund`` at each
refund, then ``expire_points`` now), written set-based in one transaction:

- **Earn.** An order earns ``order_points`` on its amount at the base rate (tier multipliers
  and bonus campaigns are not replayed): one ``earn`` entry, key ``order:{id}``, dated when
  it was placed. An order already in the ledger is skipped, with its refunds. One still inside
  its return window now is pending until ``releases_at`` (the release job releases it); an
  older one is available at once, its lot expiring ``expiry.months`` after the window ended
  (one entry instead of earn + release).
- **Refunds** take back ``refund_points`` of all that was refunded of an order: one
  ``reverse`` entry (key ``refund:{id}:backfill``) dated at the last refund. What was refunded
  inside the return window comes from pending; for an order posted available, its earn entry
  holds that part as pending, so its lot is what the release would have made available.
- **Accounts** are made (dated at the member's first order) or updated in the same
  transaction; the cached balances are the sums of the entries. A new member's lots due by
  now expire in that transaction (the entry and key ``expire_points`` writes); then
  ``expire_points`` runs for everyone else, and sends its reminders.
- **Tiers.** A member gets the highest tier an order reached over the qualifying window
  ending at it, among the orders whose tier is still held now (not yet reviewed): one
  ``backfill`` row in ``loyalty_tier_changes``. Nobody is moved down.
- **No events** are written for history: journeys must not fire on orders of the past.

Bad input (a missing id, a refund with a positive amount, an order after ``now``, amounts
finer than the currency's minor unit, ...) raises a DataError naming the rows; nothing is
written then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, Table, bindparam, select, update
from sqlalchemy.orm import Session

from retentio.analytics.loading import DEFAULT_EXCLUDED_STATUSES
from retentio.core.errors import ConfigurationError, DataError, SchemaError
from retentio.core.money import minor_unit_exponent
from retentio.loyalty.expiry import expire_points
from retentio.loyalty.programme import Programme, refund_points
from retentio.loyalty.tiers import TierRules, add_months
from retentio.store.bulk import bulk_insert, copy_rows, insert_under
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry, LoyaltyTierChange
from retentio.store.params import is_postgres, one_of
from retentio.store.tables import Customer
from retentio.store.transactions import begin_write

__all__ = ["BackfillResult", "add_months_us", "backfill_orders", "spend_points_of"]

Progress = Callable[[str, int, int], None]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]
EXCLUDED = list(DEFAULT_EXCLUDED_STATUSES)  # statuses of rows that are no orders
ENTRIES: Table = LoyaltyEntry.__table__  # type: ignore[assignment]
ACCOUNTS: Table = LoyaltyAccount.__table__  # type: ignore[assignment]
CHANGES: Table = LoyaltyTierChange.__table__  # type: ignore[assignment]
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_US = timedelta(microseconds=1)
_DAY = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 100_000  # entries per statement: bounded memory, and a step of the progress bar
_LISTED = 20
_REQUIRED = ("customer_id", "order_id", "ordered_at", "amount", "currency", "is_refund")
_EARN = ("account_id", "kind", "points", "pending_points", "key", "order_id", "amount_minor",
         "releases_at", "expires_at", "rule", "note", "occurred_at", "recorded_by")  # fmt: skip
_REVERSE = ("account_id", "kind", "points", "pending_points", "key", "order_id",
            "amount_minor", "refunded_minor", "note", "occurred_at", "recorded_by")  # fmt: skip
_EXPIRE = ("account_id", "kind", "points", "pending_points", "key", "occurred_at", "recorded_by")
_ACCOUNT = ("customer_id", "available", "pending", "earned", "tier", "tier_since", "tier_until",
            "last_activity_at", "expiring_points", "created_at", "updated_at")  # fmt: skip
_CHANGE = ("account_id", "from_tier", "to_tier", "direction", "qualifying", "changed_at")


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """What a backfill did; ``skipped`` counts the orders (and refund rows) left out, by why."""

    orders_read: int
    orders_replayed: int
    orders_already_in_ledger: int
    skipped: dict[str, int]
    customers_created: int
    members: int
    points_available: int
    points_pending: int
    refunds_reversed: int
    points_expired: int
    tiers_set: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        found = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**found, "skipped": dict(self.skipped), "seconds": round(self.seconds, 2)}


# ------------------------------------------------------------- time on the programme's clock


def _us(at: datetime) -> int:
    return (at - _EPOCH) // _US


def _at(us: int) -> datetime:
    return _EPOCH + int(us) * _US


def _offsets(days: Ints, zone: ZoneInfo, wall: bool) -> tuple[Ints, NDArray[np.bool_]]:
    """The zone's UTC offset (µs) on each of ``days`` (of UTC instants, or of wall times read
    as ``datetime`` reads them: fold 0), and whether it changes during that day; computed
    once per distinct day, as offsets change on a few days a year."""

    def offset(moment: datetime) -> int:
        local = moment.replace(tzinfo=zone) if wall else moment.astimezone(zone)
        return (local.utcoffset() or timedelta()) // _US

    unique, inverse = np.unique(days, return_inverse=True)
    start = [offset(_at(d * _DAY)) for d in unique.tolist()]
    end = [offset(_at((d + 1) * _DAY - 1)) for d in unique.tolist()]
    first = np.array(start, dtype=np.int64)
    return first[inverse], (first != np.array(end, dtype=np.int64))[inverse]


def add_months_us(at: Ints, months: int, zone: ZoneInfo) -> Ints:
    """:func:`retentio.loyalty.tiers.add_months` over UTC microseconds, vectorised: the wall
    time moved by whole months (the day clamped to the month's end); instants on a day when
    the zone's offset changes go through ``add_months`` itself."""
    if at.size == 0:
        return at.copy()
    offset, unsure = _offsets(at // _DAY, zone, wall=False)
    wall = at + offset
    date = (wall // _DAY).astype("datetime64[D]")
    month = date.astype("datetime64[M]")
    target = month + months
    first = target.astype("datetime64[D]")
    length = ((target + 1).astype("datetime64[D]") - first).astype(np.int64)
    day = np.minimum((date - month.astype("datetime64[D]")).astype(np.int64), length - 1)
    moved = (first.astype(np.int64) + day) * _DAY + wall % _DAY
    back, unsure_back = _offsets(moved // _DAY, zone, wall=True)
    result = moved - back
    for i in np.flatnonzero(unsure | unsure_back).tolist():
        result[i] = _us(add_months(_at(at[i]), months, zone))
    return np.asarray(result, dtype=np.int64)


def _year_starts(at: Ints, zone: ZoneInfo, plus: int) -> Ints:
    """The start of the calendar year ``plus`` years after the one each instant is in."""
    offset, unsure = _offsets(at // _DAY, zone, wall=False)
    year = ((at + offset) // _DAY).astype("datetime64[D]").astype("datetime64[Y]")
    years = year.astype(np.int64) + 1970 + plus
    for i in np.flatnonzero(unsure).tolist():
        years[i] = _at(at[i]).astimezone(zone).year + plus
    unique, inverse = np.unique(years, return_inverse=True)
    starts = [_us(datetime(y, 1, 1, tzinfo=zone)) for y in unique.tolist()]
    return np.array(starts, dtype=np.int64)[inverse]


def _held_until(rules: TierRules, at: Ints, zone: ZoneInfo) -> Ints:
    """``rules.held_until`` of each instant."""
    if rules.period == "calendar_year":
        return _year_starts(at, zone, 2)
    return add_months_us(at, 12, zone)


def _window_start(rules: TierRules, at: Ints, zone: ZoneInfo) -> Ints:
    """``rules.window_start`` of the window that ends just after each instant."""
    if rules.period == "calendar_year":
        return _year_starts(at, zone, 0)
    return add_months_us(at + 1, -12, zone)


# ------------------------------------------------------------------------------ the input


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
class _Rows:
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


def _parse(table: pa.Table, programme: Programme, now_us: int) -> _Rows:
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
    rows = _Rows(
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


def _refuse(problems: list[tuple[NDArray[Any], str]], rows: _Rows) -> None:
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
class _Orders:
    """The orders that earn points, one element each; ``customer`` indexes the customers."""

    order: NDArray[np.object_]
    customer: Ints
    at: Ints
    minor: Ints
    points: Ints
    refunded: Ints  # minor units refunded in all ...
    early: Ints  # ... and of them inside the return window
    refund_at: Ints  # the last refund (never before the order); -1: none

    def keep(self, mask: Bools) -> _Orders:
        return _Orders(*(getattr(self, f.name)[mask] for f in fields(self)))


def _earning(rows: _Rows, programme: Programme, skipped: dict[str, int]) -> _Orders:
    """The orders that earn points, their refunds summed, in order-id order: the ledger's
    unique key index then grows at its end (on SQLite 1M entries took 10 s, against 24 s in
    time order when the shop's order ids do not follow time)."""
    _count(skipped, "excluded by status (rows)", int((~rows.live).sum()))
    purchases = np.flatnonzero(rows.live & ~rows.refund)
    _count(skipped, f"not in {programme.currency}", int((~rows.ours[purchases]).sum()))
    bought = purchases[rows.ours[purchases]]
    points = spend_points_of(programme, rows.minor[bought])
    _count(skipped, "earn no points (amount, minimum order)", int((points == 0).sum()))
    bought, points = bought[points > 0], points[points > 0]
    slot = np.full(len(rows.orders) + 1, -1)  # order -> its place in ``bought``; -2: no points
    slot[rows.order[purchases]] = -2
    slot[rows.order[bought]] = np.arange(bought.size)
    refunds = np.flatnonzero(rows.live & rows.refund)
    which = slot[rows.order[refunds]]
    _count(skipped, "refund rows of orders not in the input", int((which == -1).sum()))
    refunds, which = refunds[which >= 0], which[which >= 0]
    placed = rows.at[bought][which]
    when = np.maximum(rows.at[refunds], placed)
    paid = -rows.minor[refunds]
    early = when < placed + programme.pending_days * _DAY
    last = np.full(bought.size, -1, dtype=np.int64)
    np.maximum.at(last, which, when)
    found = _Orders(
        order=np.array(rows.orders, dtype=object)[rows.order[bought]],
        customer=rows.customer[bought],
        at=rows.at[bought],
        minor=rows.minor[bought],
        points=points,
        refunded=_per_member(which, paid, bought.size),
        early=_per_member(which, paid * early, bought.size),
        refund_at=last,
    )
    return found.keep(pc.array_sort_indices(pa.array(found.order, pa.string())).to_numpy())


def _count(skipped: dict[str, int], reason: str, number: int) -> None:
    if number:
        skipped[reason] = skipped.get(reason, 0) + number


# ------------------------------------------------------------------------------ the store


def _stamps(values: Ints) -> list[str | None]:
    """Microsecond instants (-1: none) as the text both databases read (the transaction's
    time zone is UTC): Arrow formats a million in a tenth of what bind conversion costs."""
    stamps = pa.array(values, pa.timestamp("us"), mask=values < 0)
    texts: list[str | None] = pc.cast(stamps, pa.string()).to_pylist()
    return texts


def _append(connection: Connection, table: Table, columns: Sequence[str], rows: list[Any]) -> None:
    """New rows (times as :func:`_stamps` text): COPY on PostgreSQL, else executemany."""
    if is_postgres(connection):
        copy_rows(connection, table, columns, rows)
    else:
        bulk_insert(connection, table, columns, rows, bound=True)


def _in_ledger(connection: Connection, keys: list[str]) -> NDArray[np.bool_]:
    """Which of the entry ``keys`` the ledger holds already."""
    e = ENTRIES.c
    found: set[str] = set()
    if connection.execute(select(e.id).limit(1)).first() is not None:
        for start in range(0, len(keys), 50_000):
            chunk = keys[start : start + 50_000]
            found.update(connection.scalars(select(e.key).where(one_of(connection, e.key, chunk))))
    return np.fromiter((key in found for key in keys), dtype=bool, count=len(keys))


def _customers(connection: Connection, wanted: list[str]) -> tuple[dict[str, int], set[str], int]:
    """``{external_id: id}`` of the living customers, the erased ones' external ids, and how
    many were created: a bare customer (its external id only) for each one not stored."""
    c = CUSTOMERS.c

    def stored(ids: list[str]) -> list[Any]:
        query = select(c.external_id, c.id, c.erased_at)
        return list(connection.execute(query.where(one_of(connection, c.external_id, ids))))

    found = stored(wanted)
    missing = sorted(set(wanted) - {row[0] for row in found})
    created = 0
    if missing:
        rows: list[tuple[str, dict[str, Any]]] = [(external_id, {}) for external_id in missing]
        inserted = bulk_insert(
            connection, CUSTOMERS, ("external_id", "attributes"), rows, key=["external_id"]
        )
        created = len(missing) if inserted is None else inserted
        found += stored(missing)
    living = {row[0]: int(row[1]) for row in found if row[2] is None}
    return living, {row[0] for row in found if row[2] is not None}, created


def _accounts(connection: Connection, customer_ids: list[int]) -> dict[int, Any]:
    """The stored accounts of ``customer_ids``, by customer id (locked on PostgreSQL)."""
    a = ACCOUNTS.c
    query = select(
        a.customer_id, a.id, a.available, a.tier, a.tier_since, a.tier_until, a.last_activity_at
    ).where(one_of(connection, a.customer_id, customer_ids))
    if is_postgres(connection):
        query = query.with_for_update()
    return {row.customer_id: row for row in connection.execute(query)}


def _stored_records(
    connection: Connection, rules: TierRules, customer_of: dict[int, int], since: datetime
) -> tuple[Ints, Ints, Ints, NDArray[np.bool_]]:
    """The stored earn and reverse entries of the accounts ``customer_of`` names since
    ``since``, for tiers: (customer id, µs, qualifying value, is an earn)."""
    e = ENTRIES.c
    query = select(e.account_id, e.kind, e.occurred_at, e.amount_minor, e.points, e.pending_points)
    found = connection.execute(
        query.where(
            one_of(connection, e.account_id, list(customer_of)),
            e.kind.in_(("earn", "reverse")),
            e.occurred_at >= since,
        )
    ).all()
    spend = rules.qualify_on == "spend"
    return (
        np.array([customer_of[r[0]] for r in found], dtype=np.int64),
        np.array([_us(r[2]) for r in found], dtype=np.int64),
        np.array([(r[3] or 0) if spend else r[4] + r[5] for r in found], dtype=np.int64),
        np.array([r[1] == "earn" for r in found], dtype=bool),
    )


# ---------------------------------------------------------------------------------- tiers


def _window_sums(rm: Ints, rt: Ints, rv: Ints, m: Ints, start: Ints, end: Ints) -> Ints:
    """For each (member m, start, end): the sum of m's record values ``rv`` timed in [start,
    end] (end is the order's own instant: the window ends just after it). Times are ranked,
    so the sorted key (member, time rank) fits an int64."""
    times = np.unique(rt)
    width = times.size + 1
    keys = rm * width + np.searchsorted(times, rt)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    sums = np.concatenate(([0], np.cumsum(rv[order])))
    top = np.searchsorted(keys, m * width + np.searchsorted(times, end, "right") - 1, "right")
    bottom = np.searchsorted(keys, m * width + np.searchsorted(times, start, "left"), "left")
    return np.asarray(sums[top] - sums[bottom], dtype=np.int64)


@dataclass(slots=True)
class _Tiers:
    """Per member: the rank of the tier reached (0: none), since and until when, the value."""

    rank: Ints
    since: Ints
    until: Ints
    value: Ints


def _best_tiers(
    programme: Programme, rules: TierRules, now_us: int, records: tuple[Ints, Ints, Ints],
    candidates: tuple[Ints, Ints], members: int,
) -> _Tiers:  # fmt: skip
    """The highest tier a still-held earn (``candidates``: member, µs) reached over the window
    ending at it, from the qualifying ``records`` (member, µs, value): since the first such
    earn, until the last one's tier ends."""
    zone = programme.zone
    found = _Tiers(*(np.zeros(members, dtype=np.int64) for _ in range(4)))
    ends = _held_until(rules, candidates[1], zone)
    held = ends + rules.grace_days * _DAY > now_us  # not reviewed (moved down) by now
    m, at, ends = candidates[0][held], candidates[1][held], ends[held]
    if m.size == 0:
        return found
    reached = _window_sums(*records, m, _window_start(rules, at, zone), at)
    levels = np.searchsorted([t.threshold for t in rules.levels], reached, side="right")
    order = np.lexsort((at, levels, m))
    m, at, ends, reached, levels = m[order], at[order], ends[order], reached[order], levels[order]
    last = np.flatnonzero(np.r_[m[1:] != m[:-1], True])
    blocks = np.flatnonzero(np.r_[True, (m[1:] != m[:-1]) | (levels[1:] != levels[:-1])])
    first = blocks[np.searchsorted(blocks, last, side="right") - 1]
    who = m[last]
    found.rank[who], found.since[who], found.until[who] = levels[last], at[first], ends[last]
    found.value[who] = reached[last]
    return found


def _member_tiers(
    connection: Connection, programme: Programme, now: datetime, accounts: dict[int, Any],
    members: Ints, m: Ints, orders: _Orders, plan: _Plan,
) -> _Tiers:  # fmt: skip
    """:func:`_best_tiers` over the new entries and the stored ones of members who had an
    account (their windows reach back at most two years and the grace period)."""
    rules = programme.tiers
    if rules is None:
        return _Tiers(*(np.zeros(members.size, dtype=np.int64) for _ in range(4)))
    back = plan.back
    if rules.qualify_on == "spend":
        values = [orders.minor, -plan.spent_back]
    else:
        values = [orders.points, -(plan.early_back + plan.late_back)]
    rm, rt, cm, ct = [m, m[back]], [orders.at, orders.refund_at[back]], [m], [orders.at]
    customer_of = {row.id: row.customer_id for row in accounts.values()}
    if customer_of:
        oldest = now - timedelta(days=1100 + rules.grace_days)
        who, at, value, earn = _stored_records(connection, rules, customer_of, oldest)
        who = np.searchsorted(members, who)
        rm, rt, values = [*rm, who], [*rt, at], [*values, value]
        cm, ct = [*cm, who[earn]], [*ct, at[earn]]
    records = (np.concatenate(rm), np.concatenate(rt), np.concatenate(values).astype(np.int64))
    candidates = np.concatenate(cm), np.concatenate(ct)
    return _best_tiers(programme, rules, _us(now), records, candidates, members.size)


# ------------------------------------------------------------------------------ the write


@dataclass(slots=True)
class _Plan:
    """The replayed orders' entries: one earn each (points, pending points, when they are
    released or expire: -1 for none) and a reverse for each order ``back`` indexes."""

    earn_points: Ints
    earn_pending: Ints
    releases: Ints
    expires: Ints
    back: Ints
    early_back: Ints  # pending points the reverse takes back
    late_back: Ints  # available points it takes back
    spent_back: Ints  # the refunded part of the order's amount (minor units)


def _per_member(m: Ints, values: Any, members: int) -> Ints:
    return np.bincount(m, weights=values, minlength=members).round().astype(np.int64)


def _plan(orders: _Orders, programme: Programme, now_us: int, m: Ints, before: Ints) -> _Plan:
    """The entries; ``before``: the members' available points before the backfill."""
    release = orders.at + programme.pending_days * _DAY
    pending = release > now_us  # still inside the return window: the release job's
    taken, early = np.zeros_like(orders.points), np.zeros_like(orders.points)
    for i in np.flatnonzero(orders.refunded > 0).tolist():  # the exception: one call each
        paid = int(orders.points[i]), int(orders.minor[i])
        taken[i] = refund_points(*paid, int(orders.refunded[i]), 0)
        early[i] = refund_points(*paid, int(orders.early[i]), 0)
    back = np.flatnonzero(taken > 0)
    earn_points = np.where(pending, 0, orders.points - early)
    late = (taken - early)[back]
    if programme.returns == "cap_at_balance" and (before < 0).any():
        # Only a member below 0 already can reach the cap: history has no redemptions.
        room = np.maximum(before + _per_member(m, earn_points, before.size), 0)
        for j in np.argsort(orders.refund_at[back], kind="stable").tolist():
            member = m[back[j]]
            if before[member] < 0:
                late[j] = min(late[j], room[member])
                room[member] -= late[j]
    expires = np.full(orders.at.size, -1, dtype=np.int64)
    if programme.expiry_months is not None:
        expires[~pending] = add_months_us(
            release[~pending], programme.expiry_months, programme.zone
        )
    amount = orders.minor[back]
    return _Plan(
        earn_points=earn_points,
        earn_pending=np.where(pending, orders.points, early),
        releases=np.where(pending, release, -1),
        expires=expires,
        back=back,
        early_back=early[back],
        late_back=late,
        spent_back=amount * np.minimum(orders.refunded[back], amount) // amount,
    )


def _expiring(
    programme: Programme, now: datetime, m: Ints, plan: _Plan, available: Ints, last: Ints
) -> Ints:
    """Per member, the points ``expire_points`` would expire now if the member had only these
    entries: per lot, what the lots due by now hold beyond the debits (at most the balance);
    on inactivity, the whole balance."""
    n = available.size
    if programme.expiry_months is not None:
        due = (plan.expires >= 0) & (plan.expires <= _us(now)) & (plan.earn_points > 0)
        lots = _per_member(m[due], plan.earn_points[due], n)
        amount = lots - _per_member(m[plan.back], plan.late_back, n)
        return np.asarray(np.maximum(np.minimum(amount, available), 0), dtype=np.int64)
    if programme.inactive_months is not None:  # N months after the latest order, to the day
        since = add_months_us(last, programme.inactive_months, programme.zone) <= _us(now)
        return np.where(since, np.maximum(available, 0), 0)
    return np.zeros(n, dtype=np.int64)


@dataclass(slots=True)
class _Written:
    replayed: int = 0
    already: int = 0
    created: int = 0
    members: int = 0
    available: int = 0
    pending: int = 0
    reversed: int = 0
    expired: int = 0
    tiers: int = 0


def _write_accounts(
    connection: Connection, programme: Programme, now: datetime, members: Ints,
    accounts: dict[int, Any], sums: dict[str, Ints], tiers: _Tiers,
) -> tuple[Ints, int]:  # fmt: skip
    """The new members' accounts made with their final balances and tiers, the changes added
    to the stored ones; a tier moves only up, with a ``backfill`` tier change. Returns each
    member's account id and how many tiers were set."""
    rules = programme.tiers
    names: list[str | None] = [None, *(t.name for t in (rules.levels if rules else ()))]
    stored: list[Any] = [accounts.get(customer) for customer in members.tolist()]
    held = np.array([0 if a is None or rules is None else rules.rank(a.tier) for a in stored])
    up = tiers.rank > held
    fresh = np.array([a is None for a in stored], dtype=bool)
    account_of = np.zeros(members.size, dtype=np.int64)
    if fresh.any():
        account_of[fresh] = _new_accounts(connection, members, fresh, sums, tiers, names, now)
    if not fresh.all():
        kept = np.flatnonzero(~fresh)
        account_of[kept] = [stored[j].id for j in kept.tolist()]
        rows = [stored[j] for j in kept.tolist()]
        _update_accounts(connection, rows, kept, sums, tiers, up, names, now)
    changed = np.flatnonzero(up)
    when = _stamps(np.full(changed.size, _us(now), dtype=np.int64))
    changes = [
        (int(account_of[j]), None if stored[j] is None else stored[j].tier,
         names[tiers.rank[j]], "backfill", int(tiers.value[j]), at)
        for j, at in zip(changed.tolist(), when, strict=True)
    ]  # fmt: skip
    _append(connection, CHANGES, _CHANGE, changes)
    return account_of, changed.size


def _new_accounts(
    connection: Connection, members: Ints, fresh: Bools, sums: dict[str, Ints], tiers: _Tiers,
    names: list[str | None], now: datetime,
) -> list[int]:  # fmt: skip
    """Insert the accounts of the ``fresh`` members (created at their first order); their ids."""
    level = tiers.rank[fresh]
    since = _stamps(np.where(level > 0, tiers.since[fresh], -1))
    until = _stamps(np.where(level > 0, tiers.until[fresh], -1))
    customers = members[fresh].tolist()
    rows = zip(
        customers, sums["available"][fresh].tolist(), sums["pending"][fresh].tolist(),
        sums["earned"][fresh].tolist(), [names[x] for x in level.tolist()], since, until,
        _stamps(sums["last"][fresh]), repeat(0), _stamps(sums["first"][fresh]),
        repeat(_stamps(np.array([_us(now)]))[0]),
    )  # fmt: skip
    _append(connection, ACCOUNTS, _ACCOUNT, list(rows))
    a = ACCOUNTS.c
    query = select(a.customer_id, a.id).where(one_of(connection, a.customer_id, customers))
    made = {customer: account for customer, account in connection.execute(query)}
    return [made[customer] for customer in customers]


def _update_accounts(
    connection: Connection, stored: list[Any], kept: Ints, sums: dict[str, Ints],
    tiers: _Tiers, up: Bools, names: list[str | None], now: datetime,
) -> None:  # fmt: skip
    """Add the changes to the ``stored`` accounts (members ``kept``; locked on PostgreSQL,
    and SQLite has one writer), their latest activity, and a tier reached or held longer."""
    changes = []
    for account, j in zip(stored, kept.tolist(), strict=True):
        tier, since, until = account.tier, account.tier_since, account.tier_until
        if up[j]:
            tier, since, until = names[tiers.rank[j]], _at(tiers.since[j]), _at(tiers.until[j])
        elif tiers.rank[j] and names[tiers.rank[j]] == tier:  # reached again: held longer
            until = max(until or _EPOCH, _at(tiers.until[j]))
        changes.append({
            "b_id": account.id, "b_available": int(sums["available"][j]),
            "b_pending": int(sums["pending"][j]), "b_earned": int(sums["earned"][j]),
            "b_last": max(account.last_activity_at or _EPOCH, _at(sums["last"][j])),
            "b_tier": tier, "b_since": since, "b_until": until, "b_now": now,
        })  # fmt: skip
    a = ACCOUNTS.c

    def timed(name: str) -> Any:
        return bindparam(name, type_=a.updated_at.type)

    statement = (
        update(ACCOUNTS)
        .where(a.id == bindparam("b_id"))
        .values(
            available=a.available + bindparam("b_available"),
            pending=a.pending + bindparam("b_pending"),
            earned=a.earned + bindparam("b_earned"),
            last_activity_at=timed("b_last"),
            tier=bindparam("b_tier", type_=a.tier.type),
            tier_since=timed("b_since"),
            tier_until=timed("b_until"),
            updated_at=timed("b_now"),
        )
    )
    connection.execute(statement, changes)


def _write(
    session: Session, programme: Programme, orders: _Orders, names: list[str], now: datetime,
    recorded_by: str, skipped: dict[str, int], tell: Progress,
) -> _Written:  # fmt: skip
    """Customers, accounts, entries and tier changes, in the session's transaction."""
    connection = begin_write(session)
    if is_postgres(connection):  # the times travel as UTC text (see _stamps)
        connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    done = _Written()
    orders, customer_id = _new_orders(connection, orders, names, skipped, done, tell)
    if orders.at.size == 0:
        return done
    members, m = np.unique(customer_id, return_inverse=True)
    n = members.size
    accounts = _accounts(connection, members.tolist())
    before = np.array([getattr(accounts.get(c), "available", 0) for c in members.tolist()])
    plan = _plan(orders, programme, _us(now), m, before.astype(np.int64))
    tiers = _member_tiers(connection, programme, now, accounts, members, m, orders, plan)
    back = plan.back
    first, last = np.full(n, np.iinfo(np.int64).max), np.zeros(n, dtype=np.int64)
    np.minimum.at(first, m, orders.at)
    np.maximum.at(last, m, orders.at)
    available = _per_member(m, plan.earn_points, n) - _per_member(m[back], plan.late_back, n)
    fresh = np.array([c not in accounts for c in members.tolist()], dtype=bool)
    expired = np.where(fresh, _expiring(programme, now, m, plan, available, last), 0)
    taken = plan.early_back + plan.late_back
    sums = {
        "available": available - expired,
        "pending": _per_member(m, plan.earn_pending, n) - _per_member(m[back], plan.early_back, n),
        "earned": _per_member(m, orders.points, n) - _per_member(m[back], taken, n),
        "first": first,
        "last": last,
    }
    tell("Writing the accounts", 0, 1)
    account_of, done.tiers = _write_accounts(
        connection, programme, now, members, accounts, sums, tiers
    )
    _write_entries(connection, programme, orders, plan, account_of[m], recorded_by, tell)
    _write_expiries(connection, programme, now, account_of, expired, last)
    done.replayed, done.members, done.reversed = orders.at.size, n, back.size
    done.available = int(plan.earn_points.sum() - plan.late_back.sum())
    done.pending = int(plan.earn_pending.sum() - plan.early_back.sum())
    done.expired = int(expired.sum())
    return done


def _new_orders(
    connection: Connection, orders: _Orders, names: list[str], skipped: dict[str, int],
    done: _Written, tell: Progress,
) -> tuple[_Orders, Ints]:  # fmt: skip
    """The orders not in the ledger yet, of customers not erased (made when missing), with
    each one's customer id."""
    stored = _in_ledger(connection, [f"order:{order}" for order in orders.order.tolist()])
    done.already = int(stored.sum())
    orders = orders.keep(~stored)
    tell("Finding the customers", 0, 1)
    codes = np.unique(orders.customer)
    living, erased, done.created = _customers(connection, [names[c] for c in codes.tolist()])
    ids = np.array([living.get(names[c], -1) for c in codes.tolist()], dtype=np.int64)
    customer_id = ids[np.searchsorted(codes, orders.customer)]
    _count(skipped, "customer erased", int((customer_id < 0).sum()))
    return orders.keep(customer_id >= 0), customer_id[customer_id >= 0]


def _write_expiries(
    connection: Connection, programme: Programme, now: datetime, account_of: Ints,
    expired: Ints, last: Ints,
) -> None:  # fmt: skip
    """The expire entries of the new members, keyed as ``expire_points`` keys them."""
    due = np.flatnonzero(expired > 0)
    accounts = account_of[due].tolist()
    if programme.expiry_months is not None:
        keys = [f"expire:{account}:{now.isoformat()}" for account in accounts]
    else:
        latest = [_at(t).isoformat() for t in last[due].tolist()]
        keys = [f"expire:{a}:inactive:{t}" for a, t in zip(accounts, latest, strict=True)]
    at = _stamps(np.array([_us(now)]))[0]
    points = (-expired[due]).tolist()
    rows = zip(accounts, repeat("expire"), points, repeat(0), keys, repeat(at), repeat("retentio"))
    _append(connection, ENTRIES, _EXPIRE, list(rows))


def _write_entries(
    connection: Connection, programme: Programme, orders: _Orders, plan: _Plan,
    account: Ints, recorded_by: str, tell: Progress,
) -> None:  # fmt: skip
    """The earn entries (in statements of ``_CHUNK``), then the reverses, which find the
    earn they refer to by its key inside the INSERT."""
    ids, order_ids, total = account.tolist(), orders.order.tolist(), orders.at.size
    currency = programme.currency
    for start in range(0, total, _CHUNK):
        part = slice(start, start + _CHUNK)
        minor = orders.minor[part].tolist()
        rows = zip(
            ids[part], repeat("earn"), plan.earn_points[part].tolist(),
            plan.earn_pending[part].tolist(), [f"order:{o}" for o in order_ids[part]],
            order_ids[part], minor, _stamps(plan.releases[part]), _stamps(plan.expires[part]),
            repeat("spend"), [f"order amount {a} {currency}" for a in minor],
            _stamps(orders.at[part]), repeat(recorded_by),
        )  # fmt: skip
        _append(connection, ENTRIES, _EARN, list(rows))
        tell("Writing the entries", min(start + _CHUNK, total), total)
    # refunded_minor: all that was refunded of the order (up to its amount). A later refund of
    # it (the API's, the round's from the store's refunds) takes its share from there, so
    # none is taken back twice.
    reverses = [
        (ids[i], "reverse", -late, -early, f"refund:{order_ids[i]}:backfill", order_ids[i],
         -spent, spent, f"refund {orders.refunded[i]} of {orders.minor[i]}",
         _at(orders.refund_at[i]), recorded_by, f"order:{order_ids[i]}")
        for i, early, late, spent in zip(
            plan.back.tolist(), plan.early_back.tolist(), plan.late_back.tolist(),
            plan.spent_back.tolist(), strict=True,
        )
    ]  # fmt: skip
    insert_under(connection, ENTRIES, _REVERSE, reverses, link="refers_to", parent=ENTRIES.c.key)


# -------------------------------------------------------------------------------- the run


@contextmanager
def _session(given: Session | Engine) -> Iterator[Session]:
    if isinstance(given, Session):
        yield given
        return
    with Session(given) as session:
        yield session


def _quiet(_step: str, _done: int, _total: int) -> None:
    return None


def backfill_orders(
    session_or_engine: Session | Engine,
    programme: Programme,
    transactions: pa.Table,
    *,
    now: datetime,
    recorded_by: str,
    progress: Progress | None = None,
) -> BackfillResult:
    """Replay the orders of ``transactions`` (the normalised transactions table) into the
    ledger as of ``now`` (see the module's docstring); ``progress(step, done, total)``."""
    if now.tzinfo is None:
        raise ConfigurationError("now: an aware datetime")
    started = time.perf_counter()
    tell = progress or _quiet
    tell("Checking the orders", 0, 1)
    skipped: dict[str, int] = {}
    rows = _parse(transactions, programme, _us(now))
    orders, names = _earning(rows, programme, skipped), rows.customers
    with _session(session_or_engine) as session:
        try:
            done = _write(session, programme, orders, names, now, recorded_by, skipped, tell)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        tell("Expiring points", 0, 1)
        run = expire_points(session, programme, now=now)
    return BackfillResult(
        orders_read=int((~rows.refund).sum()),
        orders_replayed=done.replayed,
        orders_already_in_ledger=done.already,
        skipped=skipped,
        customers_created=done.created,
        members=done.members,
        points_available=done.available,
        points_pending=done.pending,
        refunds_reversed=done.reversed,
        points_expired=done.expired + run.points,
        tiers_set=done.tiers,
        seconds=time.perf_counter() - started,
    )
