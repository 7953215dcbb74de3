"""The backfill's reads and bulk writes, on the connection of the backfill's one transaction:
which orders the ledger holds already, the customers (bare ones made when missing), the stored
accounts (locked on PostgreSQL) and their earlier entries for tiers, then the accounts, tier
changes, earn, reverse and expire entries written set-based (COPY on PostgreSQL, executemany
on SQLite, times as UTC text)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from sqlalchemy import Connection, Table, bindparam, select, update

from retentio.loyalty._backfill_input import Orders
from retentio.loyalty._backfill_plan import Plan, Tiers, best_tiers
from retentio.loyalty._backfill_time import EPOCH, Bools, Ints, instant, micros
from retentio.loyalty.programme import Programme
from retentio.loyalty.tiers import TierRules
from retentio.store.bulk import bulk_insert, copy_rows, insert_under
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyEntry, LoyaltyTierChange
from retentio.store.params import is_postgres, one_of
from retentio.store.tables import Customer

__all__ = [
    "Progress",
    "in_ledger",
    "member_tiers",
    "resolve_customers",
    "stored_accounts",
    "write_accounts",
    "write_entries",
    "write_expiries",
]

Progress = Callable[[str, int, int], None]
ENTRIES: Table = LoyaltyEntry.__table__  # type: ignore[assignment]
ACCOUNTS: Table = LoyaltyAccount.__table__  # type: ignore[assignment]
CHANGES: Table = LoyaltyTierChange.__table__  # type: ignore[assignment]
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_CHUNK = 100_000  # entries per statement: bounded memory, and a step of the progress bar
_EARN = ("account_id", "kind", "points", "pending_points", "key", "order_id", "amount_minor",
         "releases_at", "expires_at", "rule", "note", "occurred_at", "recorded_by")  # fmt: skip
_REVERSE = ("account_id", "kind", "points", "pending_points", "key", "order_id",
            "amount_minor", "refunded_minor", "note", "occurred_at", "recorded_by")  # fmt: skip
_EXPIRE = ("account_id", "kind", "points", "pending_points", "key", "occurred_at", "recorded_by")
_ACCOUNT = ("customer_id", "available", "pending", "earned", "tier", "tier_since", "tier_until",
            "last_activity_at", "expiring_points", "created_at", "updated_at")  # fmt: skip
_CHANGE = ("account_id", "from_tier", "to_tier", "direction", "qualifying", "changed_at")


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


def in_ledger(connection: Connection, keys: list[str]) -> NDArray[np.bool_]:
    """Which of the entry ``keys`` the ledger holds already."""
    e = ENTRIES.c
    found: set[str] = set()
    if connection.execute(select(e.id).limit(1)).first() is not None:
        for start in range(0, len(keys), 50_000):
            chunk = keys[start : start + 50_000]
            found.update(connection.scalars(select(e.key).where(one_of(connection, e.key, chunk))))
    return np.fromiter((key in found for key in keys), dtype=bool, count=len(keys))


def resolve_customers(
    connection: Connection, wanted: list[str]
) -> tuple[dict[str, int], set[str], int]:
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


def stored_accounts(connection: Connection, customer_ids: list[int]) -> dict[int, Any]:
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
        np.array([micros(r[2]) for r in found], dtype=np.int64),
        np.array([(r[3] or 0) if spend else r[4] + r[5] for r in found], dtype=np.int64),
        np.array([r[1] == "earn" for r in found], dtype=bool),
    )


def member_tiers(
    connection: Connection, programme: Programme, now: datetime, accounts: dict[int, Any],
    members: Ints, m: Ints, orders: Orders, plan: Plan,
) -> Tiers:  # fmt: skip
    """:func:`best_tiers` over the new entries and the stored ones of members who had an
    account (their windows reach back at most two years and the grace period)."""
    rules = programme.tiers
    if rules is None:
        return Tiers(*(np.zeros(members.size, dtype=np.int64) for _ in range(4)))
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
    return best_tiers(programme, rules, micros(now), records, candidates, members.size)


def write_accounts(
    connection: Connection, programme: Programme, now: datetime, members: Ints,
    accounts: dict[int, Any], sums: dict[str, Ints], tiers: Tiers,
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
    when = _stamps(np.full(changed.size, micros(now), dtype=np.int64))
    changes = [
        (int(account_of[j]), None if stored[j] is None else stored[j].tier,
         names[tiers.rank[j]], "backfill", int(tiers.value[j]), at)
        for j, at in zip(changed.tolist(), when, strict=True)
    ]  # fmt: skip
    _append(connection, CHANGES, _CHANGE, changes)
    return account_of, changed.size


def _new_accounts(
    connection: Connection, members: Ints, fresh: Bools, sums: dict[str, Ints], tiers: Tiers,
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
        repeat(_stamps(np.array([micros(now)]))[0]),
    )  # fmt: skip
    _append(connection, ACCOUNTS, _ACCOUNT, list(rows))
    a = ACCOUNTS.c
    query = select(a.customer_id, a.id).where(one_of(connection, a.customer_id, customers))
    made = {customer: account for customer, account in connection.execute(query)}
    return [made[customer] for customer in customers]


def _update_accounts(
    connection: Connection, stored: list[Any], kept: Ints, sums: dict[str, Ints],
    tiers: Tiers, up: Bools, names: list[str | None], now: datetime,
) -> None:  # fmt: skip
    """Add the changes to the ``stored`` accounts (members ``kept``; locked on PostgreSQL,
    and SQLite has one writer), their latest activity, and a tier reached or held longer."""
    changes = []
    for account, j in zip(stored, kept.tolist(), strict=True):
        tier, since, until = account.tier, account.tier_since, account.tier_until
        if up[j]:
            tier = names[tiers.rank[j]]
            since, until = instant(tiers.since[j]), instant(tiers.until[j])
        elif tiers.rank[j] and names[tiers.rank[j]] == tier:  # reached again: held longer
            until = max(until or EPOCH, instant(tiers.until[j]))
        changes.append({
            "b_id": account.id, "b_available": int(sums["available"][j]),
            "b_pending": int(sums["pending"][j]), "b_earned": int(sums["earned"][j]),
            "b_last": max(account.last_activity_at or EPOCH, instant(sums["last"][j])),
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


def write_expiries(
    connection: Connection, programme: Programme, now: datetime, account_of: Ints,
    expired: Ints, last: Ints,
) -> None:  # fmt: skip
    """The expire entries of the new members, keyed as ``expire_points`` keys them."""
    due = np.flatnonzero(expired > 0)
    accounts = account_of[due].tolist()
    if programme.expiry_months is not None:
        keys = [f"expire:{account}:{now.isoformat()}" for account in accounts]
    else:
        latest = [instant(t).isoformat() for t in last[due].tolist()]
        keys = [f"expire:{a}:inactive:{t}" for a, t in zip(accounts, latest, strict=True)]
    at = _stamps(np.array([micros(now)]))[0]
    points = (-expired[due]).tolist()
    rows = zip(accounts, repeat("expire"), points, repeat(0), keys, repeat(at), repeat("retentio"))
    _append(connection, ENTRIES, _EXPIRE, list(rows))


def write_entries(
    connection: Connection, programme: Programme, orders: Orders, plan: Plan,
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
         instant(orders.refund_at[i]), recorded_by, f"order:{order_ids[i]}")
        for i, early, late, spent in zip(
            plan.back.tolist(), plan.early_back.tolist(), plan.late_back.tolist(),
            plan.spent_back.tolist(), strict=True,
        )
    ]  # fmt: skip
    insert_under(connection, ENTRIES, _REVERSE, reverses, link="refers_to", parent=ENTRIES.c.key)
