"""Helpers shared by the privacy tests: a person with distinctive data, and table dumps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.privacy import publish_default_texts
from retentio.store import Base
from retentio.store.tables import Customer, Event, Order, OrderLine, Refund

SECRET = b"privacy-tests-secret-0123456789-abcdefghij"
ACTOR = "test:privacy"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add_customer(session: Session, external_id: str, **fields: Any) -> Customer:
    """A stored customer (committed)."""
    row = Customer(external_id=external_id, **fields)
    session.add(row)
    session.commit()
    return row


def add_order(
    session: Session,
    customer: Customer,
    external_id: str,
    *,
    at: datetime = T0,
    lines: tuple[tuple[str, str, int], ...] = (("SKU-1", "Candle", 10000),),
    refund_minor: int | None = None,
) -> Order:
    """An order with lines (sku, name, amount) and an optional refund (committed)."""
    order = Order(
        external_id=external_id,
        customer_id=customer.id,
        ordered_at=at,
        currency="DKK",
        total_minor=sum(amount for _, _, amount in lines),
    )
    session.add(order)
    session.flush()
    for number, (sku, name, amount) in enumerate(lines, 1):
        session.add(
            OrderLine(order_id=order.id, line_no=number, sku=sku, name=name, amount_minor=amount)
        )
    if refund_minor is not None:
        session.add(Refund(order_id=order.id, refunded_at=at, amount_minor=refund_minor))
    session.commit()
    return order


def add_event(
    session: Session, customer: Customer, name: str, properties: dict[str, Any], at: datetime
) -> Event:
    """An event of ``customer`` (committed)."""
    event = Event(customer_id=customer.id, name=name, properties=properties, occurred_at=at)
    session.add(event)
    session.commit()
    return event


def with_texts(engine: Engine) -> None:
    """Publish the bundled consent texts."""
    with Session(engine) as session:
        publish_default_texts(session, actor=ACTOR)


def dump_every_table(engine: Engine) -> dict[str, str]:
    """Every row of every table, stringified, per table (for "appears nowhere" checks)."""
    dumped: dict[str, str] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = connection.execute(select(table)).all()
            dumped[table.name] = "\n".join(repr(tuple(row)) for row in rows)
    return dumped
