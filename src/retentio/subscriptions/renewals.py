"""The renewal run (``retentio subscriptions renew``, and the worker's round): pauses asked for
later begin, pauses that end resume, ``pause_ending_soon`` is told a few days before, and each
active subscription whose next order is due gets its renewal order, once per cycle, in
batches. A paused subscription is never renewed; a skipped date makes no order; a
subscription behind by several cycles makes one order and moves to its next date ahead
(nobody wants three boxes at once); one that reached its ``max_cycles`` expires.

The run is set-based: the ids of the due subscriptions are read from their index once; each
batch of them is read again and locked (still due; PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
workers share the run and each skips what another holds), with their items; their orders,
history events and new dates are computed in Python (the dates and instants cached: a run's
subscriptions share few anchors, zones and days) and written with one statement per table:
``executemany`` of one prepared statement on SQLite, ``COPY`` and an ``UPDATE`` from a JSON
record set on PostgreSQL. The rows travel as the drivers' own values, without the ORM or
SQLAlchemy's per-value type processing (a million subscriptions: docs/benchmarks.md).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.orm import Session

from retentio.store.subscription_tables import (
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionOrder,
)
from retentio.store.transactions import begin_write
from retentio.subscriptions.actions import resume
from retentio.subscriptions.policy import Policy
from retentio.subscriptions.records import local_today, log
from retentio.subscriptions.schedule import Cadence, renewal_instant

__all__ = ["POSTGRES_WORKERS", "RenewalRun", "renew_due"]

SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[assignment]
ITEMS: Table = SubscriptionItem.__table__  # type: ignore[assignment]
ORDERS: Table = SubscriptionOrder.__table__  # type: ignore[assignment]
EVENTS: Table = SubscriptionEvent.__table__  # type: ignore[assignment]
_BATCH = 10_000
#: Connections a renewal run uses at once on PostgreSQL.
POSTGRES_WORKERS = 2


@dataclass(slots=True)
class RenewalRun:
    """What a run did."""

    orders: int = 0
    skipped: int = 0
    expired: int = 0
    paused: int = 0
    resumed: int = 0
    reminders: int = 0
    amounts: dict[str, int] = field(default_factory=dict)  # currency -> minor units

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "skipped": self.skipped,
            "expired": self.expired,
            "paused": self.paused,
            "resumed": self.resumed,
            "reminders": self.reminders,
            "amounts": dict(sorted(self.amounts.items())),
        }


def _changing(session: Session, query: Any) -> list[Subscription]:
    rows = session.scalars(query.with_for_update().execution_options(populate_existing=True))
    return list(rows)


def _pauses(session: Session, policy: Policy, now: datetime, run: RenewalRun) -> None:
    """Start the pauses that were asked for later, end the ones that are over, and tell
    journeys of the ones that end soon (once per pause)."""
    s = Subscription
    soon = now + timedelta(days=policy.pause_reminder_days + 1)
    begin_write(session)
    for row in _changing(session, select(s).where(s.status == "active", s.pause_from.is_not(None))):
        if row.pause_from is not None and row.pause_from <= local_today(row, now):
            row.status, row.pause_from = "paused", None
            log(
                session,
                row,
                "subscription_paused",
                {"until": str(row.pause_until)},
                now=now,
                actor="retentio",
            )
            run.paused += 1
    for row in _changing(
        session,
        select(s).where(
            s.status == "paused", s.pause_until.is_not(None), s.pause_until <= soon.date()
        ),
    ):
        today = local_today(row, now)
        if row.pause_until is None:
            continue
        if row.pause_until <= today:
            resume(row, policy, today)
            log(
                session,
                row,
                "subscription_resumed",
                {"next_order_on": row.next_order_on.isoformat()},
                now=now,
                actor="retentio",
            )
            run.resumed += 1
        elif (row.pause_until - today).days <= policy.pause_reminder_days:
            key = f"pause_ending_soon:{row.id}:{row.pause_until.isoformat()}"
            if (
                session.scalar(select(SubscriptionEvent.id).where(SubscriptionEvent.key == key))
                is None
            ):
                log(
                    session,
                    row,
                    "pause_ending_soon",
                    {"until": row.pause_until.isoformat()},
                    now=now,
                    actor="retentio",
                    key=key,
                )
                run.reminders += 1
    session.commit()


class _Planner:
    """A run's next order dates and their renewal instants, each worked out once: a run's
    subscriptions share few cadences, anchors, days and zones. Dates travel as ISO text and
    instants as the dialect writes them (SQLite: its UTC text)."""

    _MOST = 200_000  # cached dates at most (a run of unusually varied anchors starts afresh)

    def __init__(self, policy: Policy, now: datetime, postgres: bool) -> None:
        self.now, self._at, self.postgres = now, policy.renewal_time, postgres
        self.stamp: Any = now if postgres else _sqlite_time(now)
        self.todays: dict[str, str] = {}
        self._next: dict[tuple[str, int, Any, str, str], tuple[str, Any]] = {}

    def today(self, zone: str) -> str:
        """Today on ``zone``'s calendar."""
        found = self.todays.get(zone)
        if found is None:
            found = self.todays[zone] = self.now.astimezone(ZoneInfo(zone)).date().isoformat()
        return found

    def next_order(
        self, unit: str, count: int, anchor: Any, day: str, zone: str
    ) -> tuple[str, Any]:
        """The first order date after ``day`` (:meth:`Cadence.first_after`) and its renewal
        instant on ``zone``'s clock."""
        key = (unit, count, anchor, day, zone)
        found = self._next.get(key)
        if found is None:
            start = anchor if isinstance(anchor, date) else date.fromisoformat(anchor)
            following = Cadence(unit, count).first_after(start, date.fromisoformat(day))
            instant = renewal_instant(following, self._at, ZoneInfo(zone))
            if len(self._next) >= self._MOST:
                self._next.clear()
            found = self._next[key] = (
                following.isoformat(),
                instant if self.postgres else _sqlite_time(instant),
            )
        return found


@dataclass(slots=True)
class _Batch:
    """What a batch writes: its orders and events, and each subscription's new state."""

    orders: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    changes: list[tuple[Any, ...]] = field(default_factory=list)


def _json(value: Any) -> Any:
    """A JSON column's value as the driver gives it (SQLite: its text)."""
    if value is None or value == "null":
        return None
    return [] if value == "[]" else json.loads(value)


def _plan(due: Any, planner: _Planner, batch: _Batch, run: RenewalRun) -> None:
    """One due subscription's order (unless skipped), history events and new state. ``due``
    holds its columns, the JSON of its items and their total."""
    sub, unit, count, zone, anchor, on, cycle, max_cycles, skipped, discount, currency = due[:11]
    on = on if isinstance(on, str) else on.isoformat()
    skipped, discount = _json(skipped) or [], _json(discount)
    status = "active"
    if on in skipped:
        skipped = [d for d in skipped if d != on]
        batch.events.append((sub, "renewal_skipped", f'{{"on": "{on}"}}'))
        run.skipped += 1
    else:
        total = int(due[12] or 0)
        if discount and int(discount.get("cycles", 0)) > 0:
            total -= total * int(discount.get("percent", 0)) // 100
            left = int(discount["cycles"]) - 1
            discount = {**discount, "cycles": left} if left > 0 else None
        cycle += 1
        batch.orders.append((sub, cycle, on, total, currency, due[11]))
        data = f'{{"cycle": {cycle}, "on": "{on}", "amount_minor": {total}}}'
        batch.events.append((sub, "renewed", data))
        run.orders += 1
        run.amounts[currency] = run.amounts.get(currency, 0) + total
        if max_cycles is not None and cycle >= max_cycles:
            status = "expired"
            batch.events.append((sub, "expired", f'{{"cycles": {cycle}}}'))
            run.expired += 1
    today = planner.todays.get(zone) or planner.today(zone)
    following, instant = planner.next_order(unit, count, anchor, max(on, today), zone)
    if skipped:
        skipped = [d for d in skipped if d >= following]
    batch.changes.append((sub, cycle, status, discount, following, instant, skipped))


# JSON as its text: PostgreSQL's driver would parse every value (mostly [] and null) itself.
_DUE_COLUMNS = (
    "s.id, s.cadence_unit, s.cadence_count, s.time_zone, s.anchor_on, s.next_order_on, s.cycle, "
    "s.max_cycles, CAST(s.skipped AS TEXT), CAST(s.discount AS TEXT), s.currency"
)
# The order's items (in the order they were added) as JSON, and their total, per subscription.
_SQLITE_DUE = f"""
SELECT {_DUE_COLUMNS},
    (SELECT json_group_array(json_object('product', i.product, 'quantity', i.quantity,
                                         'price_minor', i.price_minor))
     FROM (SELECT * FROM subscription_items WHERE subscription_id = s.id ORDER BY id) i),
    (SELECT SUM(i.quantity * i.price_minor) FROM subscription_items i
     WHERE i.subscription_id = s.id)
FROM subscriptions s
WHERE s.id BETWEEN ? AND ? AND s.status = 'active' AND s.next_order_at <= ? ORDER BY s.id
"""  # noqa: S608 (constants)
_POSTGRES_DUE = f"""
SELECT {_DUE_COLUMNS},
    (SELECT CAST(COALESCE(json_agg(json_build_object('product', i.product, 'quantity',
                 i.quantity, 'price_minor', i.price_minor) ORDER BY i.id), '[]') AS TEXT)
     FROM subscription_items i WHERE i.subscription_id = s.id),
    (SELECT CAST(SUM(i.quantity * i.price_minor) AS BIGINT) FROM subscription_items i
     WHERE i.subscription_id = s.id)
FROM subscriptions s
WHERE s.id = ANY(%s) AND s.status = 'active' AND s.next_order_at <= %s
ORDER BY s.id FOR UPDATE OF s SKIP LOCKED
"""  # noqa: S608 (constants)
_SQLITE_ORDERS = (
    "INSERT INTO subscription_orders (subscription_id, cycle, kind, due_on, amount_minor, "
    "currency, items, status, attempts, created_at) "
    "VALUES (?, ?, 'renewal', ?, ?, ?, ?, 'pending', 0, ?)"
)
_SQLITE_EVENTS = (
    "INSERT INTO subscription_events (subscription_id, kind, data, occurred_at, actor) "
    "VALUES (?, ?, ?, ?, 'retentio')"
)
_POSTGRES_ORDERS = """
INSERT INTO subscription_orders (subscription_id, cycle, kind, due_on, amount_minor, currency,
    items, status, attempts, created_at)
SELECT CAST(v.o ->> 0 AS BIGINT), CAST(v.o ->> 1 AS INTEGER), 'renewal', CAST(v.o ->> 2 AS DATE),
    CAST(v.o ->> 3 AS BIGINT), v.o ->> 4, CAST(v.o ->> 5 AS JSON), 'pending', 0, %s
FROM jsonb_array_elements(CAST(%s AS JSONB)) AS v(o)
"""
_POSTGRES_EVENTS = """
INSERT INTO subscription_events (subscription_id, kind, data, occurred_at, actor)
SELECT CAST(v.e ->> 0 AS BIGINT), v.e ->> 1, CAST(v.e ->> 2 AS JSON), %s, 'retentio'
FROM jsonb_array_elements(CAST(%s AS JSONB)) AS v(e)
"""
_SQLITE_UPDATE = (
    "UPDATE subscriptions SET cycle = ?, status = ?, discount = ?, next_order_on = ?, "
    "next_order_at = ?, skipped = ?, updated_at = ? WHERE id = ?"
)
# The changes as one JSON array of [id, cycle, status, discount, next date, instant, skipped].
_POSTGRES_UPDATE = """
UPDATE subscriptions AS s SET cycle = CAST(v.item ->> 1 AS INTEGER), status = v.item ->> 2,
    discount = CAST(NULLIF(v.item -> 3, 'null') AS JSON),
    next_order_on = CAST(v.item ->> 4 AS DATE),
    next_order_at = CAST(v.item ->> 5 AS TIMESTAMPTZ),
    skipped = CAST(v.item -> 6 AS JSON), updated_at = %s
FROM jsonb_array_elements(CAST(%s AS JSONB)) AS v(item)
WHERE s.id = CAST(v.item ->> 0 AS BIGINT)
"""


def _sqlite_time(at: datetime) -> str:
    """An instant as the store keeps it on SQLite (``SqliteUtcText``: the UTC wall clock)."""
    return at.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return "[]" if value == [] else orjson.dumps(value).decode()


def _due_ids(connection: Connection, now: datetime) -> list[int]:
    """The ids of the active subscriptions due at ``now`` (from the due index), in order."""
    postgres = connection.dialect.name == "postgresql"
    marker, at = ("%s", now) if postgres else ("?", _sqlite_time(now))
    query = f"SELECT id FROM subscriptions WHERE status = 'active' AND next_order_at <= {marker}"  # noqa: S608 (constants)
    return sorted(row[0] for row in _fetch(connection, query, (at,)))


def _fetch(connection: Connection, query: str, parameters: tuple[Any, ...]) -> list[Any]:
    """The rows of ``query`` as the driver's tuples, in the connection's transaction."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(query, parameters)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _read(connection: Connection, ids: list[int], now: datetime) -> list[Any]:
    """The subscriptions of ``ids`` that are still due, locked (PostgreSQL: those no other
    worker holds), with their items."""
    if connection.dialect.name == "postgresql":
        return _fetch(connection, _POSTGRES_DUE, (ids, now))
    # SQLite: the write lock is held (BEGIN IMMEDIATE), and the due ids come in order
    return _fetch(connection, _SQLITE_DUE, (ids[0], ids[-1], _sqlite_time(now)))


def _write(connection: Connection, batch: _Batch, stamp: Any) -> None:
    """Insert the batch's orders and events and update its subscriptions (``stamp``: now, as
    the dialect writes it)."""
    if connection.dialect.name == "postgresql":
        if batch.orders:
            connection.exec_driver_sql(
                _POSTGRES_ORDERS, (stamp, orjson.dumps(batch.orders).decode())
            )
        if batch.events:
            connection.exec_driver_sql(
                _POSTGRES_EVENTS, (stamp, orjson.dumps(batch.events).decode())
            )
        changes = orjson.dumps(batch.changes).decode()
        connection.exec_driver_sql(_POSTGRES_UPDATE, (stamp, changes))
        return
    if batch.orders:
        connection.exec_driver_sql(_SQLITE_ORDERS, [(*o, stamp) for o in batch.orders])
    if batch.events:
        connection.exec_driver_sql(_SQLITE_EVENTS, [(*e, stamp) for e in batch.events])
    rows = [
        (cycle, status, _text(discount), on, at, _text(skipped), stamp, sub)
        for sub, cycle, status, discount, on, at, skipped in batch.changes
    ]
    connection.exec_driver_sql(_SQLITE_UPDATE, rows)


def _renew_batch(session: Session, ids: list[int], planner: _Planner) -> RenewalRun:
    """Renew the subscriptions of ``ids`` that are still due, in one transaction."""
    run = RenewalRun()
    connection = begin_write(session)
    if planner.postgres:  # the due query's cost estimate would start the JIT compiler
        connection.exec_driver_sql("SET LOCAL jit = off")
    due = _read(connection, ids, planner.now)
    if not due:
        session.rollback()
        return run
    batch = _Batch()
    for row in due:
        _plan(row, planner, batch, run)
    _write(connection, batch, planner.stamp)
    session.commit()
    return run


def _add(run: RenewalRun, batch: RenewalRun) -> None:
    run.orders += batch.orders
    run.skipped += batch.skipped
    run.expired += batch.expired
    for currency, amount in batch.amounts.items():
        run.amounts[currency] = run.amounts.get(currency, 0) + amount


def renew_due(
    session: Session, policy: Policy, *, now: datetime, workers: int | None = None
) -> RenewalRun:
    """Run the pauses, then renew every due subscription (see the module's docstring).

    On PostgreSQL the batches run on ``workers`` connections at once (default
    :data:`POSTGRES_WORKERS`; each locks its own batch): one's statements run in the database
    while another's rows are worked out here. SQLite has one writer: one at a time.
    """
    run = RenewalRun()
    _pauses(session, policy, now, run)
    connection = session.connection()
    planner = _Planner(policy, now, connection.dialect.name == "postgresql")
    due_ids = _due_ids(connection, now)
    engine = session.get_bind()
    session.rollback()
    batches = [due_ids[start : start + _BATCH] for start in range(0, len(due_ids), _BATCH)]
    parallel = (workers or POSTGRES_WORKERS) if planner.postgres else 1
    if parallel <= 1 or len(batches) <= 1 or not isinstance(engine, Engine):
        for ids in batches:
            _add(run, _renew_batch(session, ids, planner))
        return run

    def renew(ids: list[int]) -> RenewalRun:
        with Session(engine) as own:
            return _renew_batch(own, ids, planner)

    with ThreadPoolExecutor(parallel, thread_name_prefix="retentio-renewals") as pool:
        for done in pool.map(renew, batches):
            _add(run, done)
    return run


def due_count(session: Session, now: datetime) -> int:
    """How many active subscriptions are due for renewal at ``now``."""
    s = SUBSCRIPTIONS.c
    return int(
        session.scalar(select(func.count()).where(s.status == "active", s.next_order_at <= now))
        or 0
    )
