"""The operational store on SQLite and PostgreSQL: migrations, constraints, SQLite settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from retentio.cli import app
from retentio.store import (
    Base,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)
from retentio.store.tables import Customer, Order, Refund

TABLES = {
    "api_keys",
    "audit_log",
    "consent_events",
    "consent_texts",
    "consents",
    "customers",
    "events",
    "idempotency_keys",
    "order_lines",
    "orders",
    "refunds",
    "suppressions",
}


def test_upgrade_creates_every_table_and_matches_the_models(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []  # migrations == tables.py
    upgrade(engine)  # a second upgrade is a no-op
    assert current_revision(engine) == head_revision()


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())


def test_order_lines_keep_their_data_through_the_new_key_and_back(engine: Engine) -> None:
    upgrade(engine, "0003")  # lines with a surrogate id
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO customers (external_id, attributes) VALUES ('c', '{}')")
        )
        connection.execute(
            text(
                "INSERT INTO orders (external_id, customer_id, ordered_at, currency, total_minor,"
                " status) VALUES ('o', 1, '2026-03-01 10:00:00', 'DKK', 300, 'completed')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO order_lines (order_id, line_no, sku, name, quantity, amount_minor)"
                " VALUES (1, 1, 'A', 'Æble', 1, 100), (1, 2, 'B', NULL, 2, 200)"
            )
        )
    lines = "SELECT order_id, line_no, sku, name, quantity, amount_minor FROM order_lines"
    expected = [(1, 1, "A", "Æble", 1, 100), (1, 2, "B", None, 2, 200)]
    upgrade(engine)
    assert inspect(engine).get_pk_constraint("order_lines")["constrained_columns"] == [
        "order_id",
        "line_no",
    ]
    with engine.begin() as connection:
        assert [tuple(r) for r in connection.execute(text(lines + " ORDER BY line_no"))] == expected
        with pytest.raises(IntegrityError):  # the key holds
            connection.execute(text("INSERT INTO order_lines VALUES (1, 2, 'C', NULL, 1, 5)"))
    downgrade(engine, "0003")
    with engine.connect() as connection:
        assert [tuple(r) for r in connection.execute(text(lines + " ORDER BY id"))] == expected


def test_external_ids_are_unique_and_foreign_keys_hold(engine: Engine) -> None:
    upgrade(engine)
    with Session(engine) as session:
        session.add(Customer(external_id="c1", email="a@example.dk"))
        session.commit()
        session.add(Customer(external_id="c1"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        when = datetime(2026, 1, 5, 12, tzinfo=UTC)
        session.add(
            Order(external_id="o1", customer_id=999, ordered_at=when, currency="DKK", total_minor=1)
        )
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        customer = session.scalars(select(Customer)).one()
        assert customer.attributes == {} and customer.created_at is not None


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_cli_init_upgrade_and_status(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    status = runner.invoke(app, ["db", "status", "--database-url", database_url])
    assert status.exit_code == 0, status.output
    assert "(empty)" in status.stdout and "needs `retentio db upgrade`" in status.stdout
    created = runner.invoke(app, ["init", "--database-url", database_url])
    assert created.exit_code == 0, created.output
    again = runner.invoke(app, ["db", "upgrade", "--database-url", database_url])
    assert again.exit_code == 0 and "up to date" in again.stdout
    status = runner.invoke(app, ["db", "status", "--database-url", database_url])
    assert f"revision {head_revision()}" in status.stdout and "up to date" in status.stdout


def test_partial_refunds_are_rows_and_a_repeated_refund_is_refused(engine: Engine) -> None:
    upgrade(engine)
    when = datetime(2026, 1, 5, 12, tzinfo=UTC)
    with Session(engine) as session:
        customer = Customer(external_id="c1")
        session.add(customer)
        session.flush()
        order = Order(
            external_id="o1",
            customer_id=customer.id,
            ordered_at=when,
            currency="DKK",
            total_minor=10000,
        )
        session.add(order)
        session.flush()
        session.add_all(
            [
                Refund(order_id=order.id, refunded_at=when, amount_minor=2500),
                Refund(order_id=order.id, refunded_at=when, amount_minor=1000),
            ]
        )
        session.commit()
        session.add(Refund(order_id=order.id, refunded_at=when, amount_minor=2500))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        # refunds with the shop's own ids are keyed by them, even at the same time and amount
        session.add_all(
            [
                Refund(external_id="r1", order_id=order.id, refunded_at=when, amount_minor=100),
                Refund(external_id="r2", order_id=order.id, refunded_at=when, amount_minor=100),
            ]
        )
        session.commit()
        total = session.scalar(select(func.sum(Refund.amount_minor)))
        assert total == 3700


def test_migration_0005_fills_the_order_figures_from_the_stored_orders(engine: Engine) -> None:
    upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO customers (external_id, attributes) VALUES ('a', '{}'), ('b', '{}')")
        )
        connection.execute(
            text(
                "INSERT INTO orders (external_id, customer_id, ordered_at, currency, total_minor,"
                " status) VALUES ('o1', 1, '2026-03-01 10:00:00', 'DKK', 300, 'completed'),"
                " ('o2', 1, '2026-04-01 10:00:00', 'EUR', 50, 'partially_refunded'),"
                " ('o3', 1, '2026-05-01 10:00:00', 'DKK', 70, 'cancelled'),"
                " ('o4', 2, '2026-05-01 10:00:00', 'DKK', 90, 'pending')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO refunds (order_id, refunded_at, amount_minor)"
                " VALUES (2, '2026-04-02 10:00:00', 20)"
            )
        )
    upgrade(engine)
    with engine.connect() as connection:
        stats = connection.execute(
            text("SELECT customer_id, order_count FROM customer_order_stats")
        ).all()
        spend = connection.execute(
            text("SELECT customer_id, currency, order_count, spend_minor FROM customer_spend")
        ).all()
    assert [tuple(r) for r in stats] == [(1, 2)]  # b's only order is pending
    assert sorted(tuple(r) for r in spend) == [(1, "DKK", 1, 300), (1, "EUR", 1, 30)]
    downgrade(engine, "0004")
    assert "customer_order_stats" not in inspect(engine).get_table_names()
