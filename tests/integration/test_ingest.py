"""Ingestion on SQLite and PostgreSQL: validation by item, atomicity, idempotency, races."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session
from threads import run_in_threads

from retentio.ingest import (
    BatchRejected,
    ingest_customers,
    ingest_events,
    ingest_orders,
    track_event,
)
from retentio.privacy import suppress
from retentio.store.tables import Customer, Order

SECRET = b"0123456789abcdefghijklmnopqrstuvwxyzABCD"


def order(external_id: str, customer_id: str = "C1", **changes: Any) -> dict[str, Any]:
    item = {
        "external_id": external_id,
        "customer_id": customer_id,
        "ordered_at": "2026-03-01T10:00:00+01:00",
        "currency": "EUR",
        "total": "12.50",
    }
    return item | changes


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_times_are_stored_in_utc_whatever_their_offset(migrated_engine: Engine) -> None:
    # PostgreSQL reads offsets up to 15:59 only; Python (and so the API) takes up to 23:59.
    items = [
        order("O1", ordered_at="2026-03-01T10:00:00+16:00"),
        order("O2", ordered_at="2026-03-01T10:00:00.250000-23:30"),
    ]
    with Session(migrated_engine) as session:
        assert ingest_orders(session, items, actor="test").created == 2
        times = {o.external_id: o.ordered_at for o in session.scalars(select(Order))}
    assert times == {
        "O1": datetime(2026, 2, 28, 18, tzinfo=UTC),
        "O2": datetime(2026, 3, 2, 9, 30, 0, 250000, tzinfo=UTC),
    }


def test_invalid_items_are_reported_by_index_and_the_valid_ones_written(
    migrated_engine: Engine,
) -> None:
    items: list[Any] = [
        order("O1"),
        order("O2", total="1.999"),
        "not an object",
        order("O3", ordered_at="2026-03-01T10:00:00"),
        order("O4", customer_id="C2", currency="jpy", total=1500),
    ]
    with Session(migrated_engine) as session:
        result = ingest_orders(session, items, actor="test")
    assert (result.received, result.created, result.updated, result.failed) == (5, 2, 0, 3)
    assert [(e.index, e.field) for e in result.errors] == [
        (1, "total"),
        (2, ""),
        (3, "ordered_at"),
    ]
    assert result.errors[2].message == "give a time zone offset, e.g. 2026-03-01T10:00:00+01:00"
    assert rows(
        migrated_engine, "SELECT external_id, currency, total_minor FROM orders ORDER BY 1"
    ) == [("O1", "EUR", 1250), ("O4", "JPY", 1500)]
    # the unknown customers got bare rows: their external id only
    assert rows(migrated_engine, "SELECT external_id, email FROM customers ORDER BY 1") == [
        ("C1", None),
        ("C2", None),
    ]


def test_an_atomic_batch_with_one_bad_item_writes_nothing(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        with pytest.raises(BatchRejected) as raised:
            ingest_orders(session, [order("O1"), order("O2", total="-3")], atomic=True, actor="t")
    assert [(e.index, e.field) for e in raised.value.errors] == [(1, "total")]
    for table in ("orders", "customers", "audit_log"):
        assert count(migrated_engine, table) == 0, table


def test_an_atomic_batch_refused_by_the_database_checks_writes_nothing(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        suppress(session, SECRET, channel="email", address="bo@example.dk", reason="erasure")
        items = [{"external_id": "A"}, {"external_id": "B", "email": "BO@example.dk"}]
        with pytest.raises(BatchRejected) as raised:
            ingest_customers(session, items, atomic=True, secret=SECRET, actor="t")
    assert [(e.index, e.field) for e in raised.value.errors] == [(1, "email")]
    assert count(migrated_engine, "customers") == 0
    assert count(migrated_engine, "audit_log") == 0


def test_the_same_batch_twice_changes_nothing_the_second_time(migrated_engine: Engine) -> None:
    items = [
        order(
            "O1",
            lines=[{"sku": "A", "quantity": 2, "amount": "10"}, {"name": "ship", "amount": 2.5}],
            refunds=[
                {"refunded_at": "2026-03-05T12:00:00+01:00", "amount": "2.50"},
                {"external_id": "R9", "refunded_at": "2026-03-06T12:00:00Z", "amount": 1},
            ],
        ),
        order("O2", customer_id="C2"),
    ]
    with Session(migrated_engine) as session:
        first = ingest_orders(session, items, actor="t")
        second = ingest_orders(session, items, actor="t")
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.created, second.updated, second.unchanged, second.failed) == (0, 0, 2, 0)
    assert count(migrated_engine, "orders") == 2
    assert count(migrated_engine, "order_lines") == 2
    assert count(migrated_engine, "refunds") == 2
    assert count(migrated_engine, "customers") == 2
    assert sorted(rows(migrated_engine, "SELECT amount_minor FROM refunds")) == [(100,), (250,)]


def test_changed_orders_count_as_updated_and_their_lines_are_replaced(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        ingest_orders(
            session,
            [order("O1", lines=[{"amount": "5"}, {"amount": "7.5"}]), order("O2"), order("O3")],
            actor="t",
        )
        result = ingest_orders(
            session,
            [
                order("O1", lines=[{"sku": "B", "amount": "12.5"}]),
                order("O2", status="cancelled"),
                order("O3"),
                order("O4"),
                order("O5", refunds=[{"refunded_at": "2026-03-02T00:00:00Z", "amount": "1"}]),
            ],
            actor="t",
        )
        again = ingest_orders(
            session,
            [order("O5", refunds=[{"refunded_at": "2026-03-03T00:00:00Z", "amount": "1"}])],
            actor="t",
        )
    assert (result.created, result.updated, result.unchanged) == (2, 2, 1)
    assert (again.created, again.updated, again.unchanged) == (0, 1, 0)
    assert rows(migrated_engine, "SELECT line_no, sku, amount_minor FROM order_lines") == [
        (1, "B", 1250)
    ]
    assert rows(migrated_engine, "SELECT status FROM orders WHERE external_id = 'O2'") == [
        ("cancelled",)
    ]
    assert count(migrated_engine, "refunds") == 2  # refunds are added, never removed


def test_duplicate_ids_in_one_batch_the_last_wins(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        result = ingest_orders(session, [order("O1", total="1"), order("O1", total="2")], actor="t")
    assert (result.created, result.failed) == (1, 1)
    assert [(e.index, e.field) for e in result.errors] == [(0, "external_id")]
    assert rows(migrated_engine, "SELECT total_minor FROM orders") == [(200,)]


def test_customers_are_upserted_and_a_left_out_field_keeps_its_value(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        first = ingest_customers(
            session,
            [{"external_id": "C1", "email": "Anna@Example.dk", "first_name": "Anna"}],
            actor="t",
        )
        second = ingest_customers(
            session,
            [
                {"external_id": "C1", "phone": "+45 20 12 34 56"},
                {"external_id": "C1x", "first_name": None},
                {"external_id": "C1", "phone": "+4520123456"},
            ],
            actor="t",
        )
        third = ingest_customers(session, [{"external_id": "C1", "first_name": "Anna"}], actor="t")
    assert (first.created, second.created, second.updated, second.failed) == (1, 1, 1, 1)
    assert (third.unchanged, third.updated) == (1, 0)
    assert rows(
        migrated_engine,
        "SELECT external_id, email, phone, first_name FROM customers ORDER BY 1",
    ) == [("C1", "anna@example.dk", "+4520123456", "Anna"), ("C1x", None, None, None)]


def test_suppressed_addresses_are_refused_however_they_are_typed(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        suppress(session, SECRET, channel="email", address="anna@example.dk", reason="erasure")
        suppress(session, SECRET, channel="sms", address="+4520123456", reason="stop")
        result = ingest_customers(
            session,
            [
                {"external_id": "A", "email": " ANNA@example.DK"},
                {"external_id": "B", "phone": "20 12 34 56", "country": "DK"},
                {"external_id": "C", "email": "carl@example.dk"},
            ],
            secret=SECRET,
            actor="t",
        )
    assert (result.created, result.failed) == (1, 2)
    assert [(e.index, e.field) for e in result.errors] == [(0, "email"), (1, "phone")]
    assert result.errors[0].message == (
        "this address is suppressed (erased or unsubscribed) and cannot be imported"
    )
    assert rows(migrated_engine, "SELECT external_id FROM customers") == [("C",)]


def test_an_erased_customer_is_not_imported_again(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": "C1", "email": "a@example.dk"}], actor="t")
        session.execute(
            update(Customer).values(email=None, erased_at=datetime(2026, 1, 1, tzinfo=UTC))
        )
        session.commit()
        result = ingest_customers(
            session, [{"external_id": "C1", "email": "a@example.dk"}], actor="t"
        )
        events = ingest_events(
            session,
            [{"customer_id": "C1", "name": "viewed", "occurred_at": "2026-01-02T00:00:00Z"}],
            actor="t",
        )
        with pytest.raises(BatchRejected, match="erased"):
            track_event(
                session,
                {"customer_id": "C1", "name": "viewed", "occurred_at": "2026-01-02T00:00:00Z"},
                actor="t",
            )
    assert (result.failed, result.errors[0].field) == (1, "external_id")
    assert "erased" in result.errors[0].message
    assert (events.failed, events.errors[0].field) == (1, "customer_id")
    assert rows(migrated_engine, "SELECT email FROM customers") == [(None,)]
    assert count(migrated_engine, "events") == 0


def test_events_dedupe_by_external_id_and_track_event_is_idempotent(
    migrated_engine: Engine,
) -> None:
    event = {
        "external_id": "E1",
        "customer_id": "C9",
        "name": "viewed_product",
        "properties": {"sku": "A"},
        "occurred_at": "2026-03-01T10:00:00+01:00",
    }
    anonymous = {k: v for k, v in event.items() if k != "external_id"}
    with Session(migrated_engine) as session:
        first = ingest_events(session, [event, anonymous], actor="t")
        second = ingest_events(session, [event, anonymous], actor="t")
        tracked = track_event(session, event | {"external_id": "E2"}, actor="t")
        repeated = track_event(session, event | {"external_id": "E2"}, actor="t")
        with pytest.raises(BatchRejected, match="occurred_at"):
            track_event(session, {"customer_id": "C9", "name": "x"}, actor="t")
    assert (first.created, second.created, second.unchanged) == (2, 1, 1)
    assert tracked.created and not repeated.created and tracked.id == repeated.id
    assert count(migrated_engine, "events") == 4
    assert rows(migrated_engine, "SELECT external_id FROM customers") == [("C9",)]


def test_one_audit_entry_per_batch_with_counts_and_no_personal_data(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        ingest_customers(
            session,
            [{"external_id": "C1", "email": "anna@example.dk"}, {"external_id": ""}],
            actor="api:shop",
        )
        ingest_orders(session, [order("O1")], actor="cli")
    entries = rows(migrated_engine, "SELECT actor, action, details FROM audit_log ORDER BY id")
    assert [(actor, action) for actor, action, _ in entries] == [
        ("api:shop", "customers.upsert"),
        ("cli", "orders.upsert"),
    ]
    details = entries[0][2]
    details = json.loads(details) if isinstance(details, str) else details  # SQLite: text
    assert {k: details[k] for k in ("received", "created", "failed")} == {
        "received": 2,
        "created": 1,
        "failed": 1,
    }
    assert "anna" not in str(entries)


def test_text_with_quotes_backslashes_and_braces_round_trips(migrated_engine: Engine) -> None:
    odd = ['a"b', "c\\d", "NULL", "{x,y}", "æøå 😀", "tab\there"]
    items = [{"external_id": o, "first_name": o, "attributes": {"k": o}} for o in odd]
    with Session(migrated_engine) as session:
        assert ingest_customers(session, items, actor="t").created == len(odd)
        assert ingest_customers(session, items, actor="t").unchanged == len(odd)
    stored = rows(migrated_engine, "SELECT external_id, first_name, attributes FROM customers")
    decoded = [(e, f, json.loads(a) if isinstance(a, str) else a) for e, f, a in stored]
    assert sorted(decoded, key=str) == sorted(((o, o, {"k": o}) for o in odd), key=str)


def test_twenty_threads_upserting_one_customer_make_one_row(migrated_engine: Engine) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(20)

    def work(n: int) -> None:
        try:
            start.wait()
            with Session(migrated_engine) as session:
                ingest_customers(
                    session,
                    [{"external_id": "same", "first_name": f"name {n}"}],
                    actor=f"thread {n}",
                )
                ingest_orders(session, [order(f"O{n}", customer_id="same")], actor="t")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    run_in_threads(work, 20, numbered=True)
    assert failures == []
    assert rows(migrated_engine, "SELECT count(*), count(DISTINCT id) FROM customers") == [(1, 1)]
    assert count(migrated_engine, "orders") == 20
    assert count(migrated_engine, "audit_log") == 40


def test_concurrent_batches_of_the_same_events_count_each_created_once(
    migrated_engine: Engine,
) -> None:
    events = [
        {
            "external_id": f"e{n}",
            "customer_id": f"C{n % 5}",
            "name": "viewed",
            "occurred_at": "2026-03-01T10:00:00Z",
        }
        for n in range(200)
    ]
    with Session(migrated_engine) as session:  # known customers: nothing serialises the batches
        ingest_customers(session, [{"external_id": f"C{n}"} for n in range(5)], actor="t")
    start = threading.Barrier(6)
    created: list[int] = []

    def work() -> None:
        start.wait()
        with Session(migrated_engine) as session:
            created.append(ingest_events(session, events, actor="t").created)

    run_in_threads(work, 6)
    assert len(created) == 6
    assert sum(created) == 200  # however the batches interleaved
    assert count(migrated_engine, "events") == 200


def test_an_empty_batch_writes_nothing_but_its_audit_entry(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        for ingest in (ingest_customers, ingest_orders, ingest_events):
            done = ingest(session, [], actor="t")
            assert (done.received, done.created, done.updated, done.failed) == (0, 0, 0, 0)
    assert count(migrated_engine, "customers") == 0
    assert count(migrated_engine, "audit_log") == 3


def _ingest_at_once(engine: Engine, batches: list[list[dict[str, Any]]]) -> list[tuple[int, int]]:
    """Ingest ``batches`` of orders from one thread each, started together: (created, updated)
    of each batch that succeeded."""
    start = threading.Barrier(len(batches))
    results: list[tuple[int, int]] = []

    def work(k: int) -> None:
        start.wait()
        with Session(engine) as session:
            done = ingest_orders(session, batches[k], actor="t")
            results.append((done.created, done.updated))

    run_in_threads(work, len(batches), numbered=True)
    return results


def test_concurrent_batches_of_the_same_new_orders_write_each_once(
    migrated_engine: Engine,
) -> None:
    # New orders go in by a plain INSERT; on PostgreSQL the batches that lose the race fail
    # on the unique key, run again and find the orders stored, with the same lines.
    line = [{"sku": "A", "amount": "12.50"}]
    orders = [order(f"O{n:03}", f"C{n % 5}", lines=line) for n in range(200)]
    with Session(migrated_engine) as session:  # known customers: nothing serialises the batches
        ingest_customers(session, [{"external_id": f"C{n}"} for n in range(5)], actor="t")
    results = _ingest_at_once(migrated_engine, [orders] * 6)
    assert sorted(results) == [(0, 0)] * 5 + [(200, 0)]
    assert count(migrated_engine, "orders") == 200
    assert rows(migrated_engine, "SELECT count(*), count(DISTINCT order_id) FROM order_lines") == [
        (200, 200)
    ]


def test_concurrent_batches_of_overlapping_new_orders_all_succeed(
    migrated_engine: Engine,
) -> None:
    # Batch k holds orders 10k..10k+29: each overlaps its neighbours, so a batch that lost a
    # race can lose another on its next attempt (a batch that wins commits each time).
    with Session(migrated_engine) as session:
        ingest_customers(session, [{"external_id": f"C{n}"} for n in range(5)], actor="t")
    for round_ in range(3):
        batches = [
            [order(f"R{round_}-{n:03}", f"C{n % 5}") for n in range(10 * k, 10 * k + 30)]
            for k in range(8)
        ]
        results = _ingest_at_once(migrated_engine, batches)
        assert len(results) == len(batches)  # no batch failed
        assert sum(created for created, _ in results) == 100  # R-000 .. R-099, each once
    assert count(migrated_engine, "orders") == 300


def test_concurrent_batches_keep_the_order_figures_equal_to_a_recount(
    migrated_engine: Engine,
) -> None:
    # New orders add to their customers' figures; changed ones make them recomputed, under a
    # lock of the customers on PostgreSQL. Batch k adds 20 new orders and changes the stored
    # ones (a new total; every third cancelled), all for the same five customers.
    with Session(migrated_engine) as session:
        ingest_orders(session, [order(f"S{n:02}", f"C{n % 5}") for n in range(30)], actor="t")
    batches = [
        [order(f"N{k}-{n:02}", f"C{n % 5}", total=f"{n + 1}.00") for n in range(20)]
        + [
            order(f"S{n:02}", f"C{(n + k) % 5}", total=f"{k + 2}.00")
            | ({"status": "cancelled"} if n % 3 == k % 3 else {})
            for n in range(30)
        ]
        for k in range(6)
    ]
    results = _ingest_at_once(migrated_engine, batches)
    assert len(results) == len(batches)
    assert rows(
        migrated_engine,
        "SELECT customer_id, order_count, first_order_at, last_order_at"
        " FROM customer_order_stats ORDER BY customer_id",
    ) == rows(
        migrated_engine,
        "SELECT customer_id, count(*), min(ordered_at), max(ordered_at) FROM orders"
        " WHERE status NOT IN ('cancelled', 'pending') GROUP BY customer_id ORDER BY customer_id",
    )
    assert rows(
        migrated_engine,
        "SELECT customer_id, currency, order_count, spend_minor FROM customer_spend"
        " ORDER BY customer_id",
    ) == rows(
        migrated_engine,
        "SELECT customer_id, currency, count(*), sum(total_minor) FROM orders"
        " WHERE status NOT IN ('cancelled', 'pending') GROUP BY customer_id, currency"
        " ORDER BY customer_id",
    )


def test_twenty_concurrent_batches_recounting_one_customer_all_succeed(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        ingest_orders(session, [order(f"S{n}", "C0") for n in range(5)], actor="t")
    batches = [[order(f"S{n}", "C0", total=f"{k + 2}.00") for n in range(5)] for k in range(20)]
    results = _ingest_at_once(migrated_engine, batches)
    assert len(results) == 20  # none ran out of retries
    assert rows(migrated_engine, "SELECT customer_id, order_count FROM customer_order_stats") == [
        (1, 5)
    ]
    (total,) = rows(migrated_engine, "SELECT sum(total_minor) FROM orders")[0]
    assert rows(migrated_engine, "SELECT spend_minor FROM customer_spend") == [(total,)]


def test_new_customers_of_an_order_batch_are_committed_apart_on_postgresql(
    migrated_engine: Engine,
) -> None:
    # So that concurrent batches naming the same new customer do not wait for each other.
    from retentio.ingest._sql import ensure_customers_apart
    from retentio.store.transactions import begin_write

    with Session(migrated_engine) as session:
        connection = begin_write(session)
        found = ensure_customers_apart(session, connection, ["N1", "N2"])
        assert sorted(found) == ["N1", "N2"] and all(e is None for _, e in found.values())
        seen_elsewhere = count(migrated_engine, "customers")  # another connection
        session.rollback()
    postgres = migrated_engine.dialect.name == "postgresql"
    assert seen_elsewhere == (2 if postgres else 0)  # SQLite: inside the batch's transaction
    assert count(migrated_engine, "customers") == (2 if postgres else 0)


def test_lines_find_their_order_inside_the_insert_or_fail_loudly(migrated_engine: Engine) -> None:
    from retentio.ingest.orders import LINES, ORDERS
    from retentio.store.bulk import insert_under

    columns = ("line_no", "sku", "name", "quantity", "amount_minor")
    key = ORDERS.c.external_id
    with Session(migrated_engine) as session:
        ingest_orders(session, [order("O1")], actor="t")
        connection = session.connection()
        one = [(1, "A", None, 1, 5, "O1")]
        insert_under(connection, LINES, columns, one, link="order_id", parent=key)
        two = [(2, "A", None, 1, 5, "O1"), (1, "A", None, 1, 5, "nope")]
        with pytest.raises(RuntimeError, match="1 of 2 rows had no orders row"):
            insert_under(connection, LINES, columns, two, link="order_id", parent=key)
        session.rollback()
