"""Upsert orders in bulk, with their lines (replaced) and refunds (added once)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.orm import Session

from retentio.ingest._bulk import bulk_insert, insert_under, one_of
from retentio.ingest._sql import audit, ensure_customers, rows_by, rows_in, same_row, with_retry
from retentio.ingest.models import OrderIn
from retentio.ingest.results import BatchRejected, BatchResult, keep_last, validate_items
from retentio.store.tables import Order, OrderLine, Refund
from retentio.store.transactions import begin_write

__all__ = ["ingest_orders"]

_Row = tuple[Any, ...]

ORDERS: Table = Order.__table__  # type: ignore[assignment]
LINES: Table = OrderLine.__table__  # type: ignore[assignment]
REFUNDS: Table = Refund.__table__  # type: ignore[assignment]
#: The columns of a written order, in the order of its row; all but the first are compared.
_COLUMNS = ("external_id", "customer_id", "ordered_at", "currency", "total_minor", "status")
_COMPARED = _COLUMNS[1:]
_LINE_COLUMNS = ("line_no", "sku", "name", "quantity", "amount_minor")
_REFUND_COLUMNS = ("order_id", "external_id", "refunded_at", "amount_minor")


def ingest_orders(
    session: Session,
    items: Sequence[Any],
    *,
    atomic: bool = False,
    secret: bytes | None = None,
    actor: str,
    lock: AbstractContextManager[Any] | None = None,
) -> BatchResult:
    """Validate ``items`` (decoded JSON) one by one and upsert the valid orders by external id.

    An unknown ``customer_id`` creates a bare customer (its external id only). Given ``lines``
    replace the order's stored lines (left out: the stored lines stay); ``refunds`` are added
    unless already stored (by their external id, else by time and amount), never removed.
    Of several items with one external id the last wins; the others are refused. ``atomic``:
    any refused item refuses the batch (:class:`BatchRejected`, nothing written). ``secret``
    is accepted for symmetry with :func:`ingest_customers` (orders carry no addresses).
    Commits; one audit entry per batch.
    ``lock`` (a server's SQLite writer lock), if given, is held while it writes, not while it
    validates.
    """
    del secret
    valid, invalid = validate_items(OrderIn, items)
    valid = keep_last(valid, "external_id", invalid)
    if atomic and invalid:
        raise BatchRejected(sorted(invalid, key=lambda e: e.index), len(items))

    def write() -> BatchResult:
        connection = begin_write(session)
        customers = ensure_customers(connection, {item.customer_id for _, item in valid})
        o = ORDERS.c
        stored = rows_by(
            connection,
            o.external_id,
            [i.external_id for _, i in valid],
            o.id,
            *(o[c] for c in _COMPARED),
        )
        old_lines, old_refunds = _children(connection, valid, stored)
        result = BatchResult(received=len(items), failed=len({e.index for e in invalid}))
        changed: list[tuple[OrderIn, _Row]] = []
        for _, item in valid:
            row = (
                item.external_id,
                customers[item.customer_id][0],
                item.ordered_at,
                item.currency,
                item.total_minor(),
                item.status,
            )
            before = stored.get(item.external_id)
            if before is None:
                result.created += 1
            elif same_row(row[1:], before, _COMPARED) and _same_children(
                item, before.id, old_lines, old_refunds
            ):
                result.unchanged += 1
                continue
            else:
                result.updated += 1
            changed.append((item, row))
        result.settle(result.created, _write(connection, changed, stored))
        result.errors = sorted(invalid, key=lambda e: e.index)
        audit(connection, actor, "orders.upsert", result)
        return result

    return with_retry(session, write, lock)


def _line_rows(item: OrderIn) -> list[tuple[Any, ...]]:
    minor = item.minor
    return [
        (n, line.sku, line.name, line.quantity, minor(line.amount))
        for n, line in enumerate(item.lines or (), start=1)
    ]


def _refund_keys(item: OrderIn) -> list[tuple[Any, ...]]:
    return [(r.external_id, r.refunded_at, item.minor(r.amount)) for r in item.refunds or ()]


def _children(
    connection: Connection, valid: list[tuple[int, OrderIn]], stored: dict[str, Any]
) -> tuple[dict[int, list[tuple[Any, ...]]], dict[int, set[tuple[Any, ...]]]]:
    """The stored lines and refunds of the stored orders whose items carry lines / refunds."""
    known = [(stored[i.external_id].id, i) for _, i in valid if i.external_id in stored]
    with_lines = [order_id for order_id, i in known if i.lines is not None]
    with_refunds = [order_id for order_id, i in known if i.refunds]
    lines: dict[int, list[tuple[Any, ...]]] = {}
    refunds: dict[int, set[tuple[Any, ...]]] = {}
    if with_lines:
        ln = LINES.c
        query = select(ln.order_id, ln.line_no, ln.sku, ln.name, ln.quantity, ln.amount_minor)
        for row in sorted(rows_in(connection, query, ln.order_id, with_lines)):
            lines.setdefault(row[0], []).append(tuple(row[1:]))
    if with_refunds:
        rf = REFUNDS.c
        query = select(rf.order_id, rf.external_id, rf.refunded_at, rf.amount_minor)
        for row in rows_in(connection, query, rf.order_id, with_refunds):
            refunds.setdefault(row[0], set()).add((row[1], row[2], row[3]))
    return lines, refunds


def _same_children(
    item: OrderIn,
    order_id: int,
    lines: dict[int, list[tuple[Any, ...]]],
    refunds: dict[int, set[tuple[Any, ...]]],
) -> bool:
    if item.lines is not None and lines.get(order_id, []) != _line_rows(item):
        return False
    have = refunds.get(order_id, set())
    return all(key in have for key in _refund_keys(item))


def _write(
    connection: Connection, changed: list[tuple[OrderIn, _Row]], stored: dict[str, Any]
) -> int | None:
    if not changed:
        return None
    changed.sort(key=lambda pair: pair[0].external_id)  # one lock order for every batch
    rows = [row for _, row in changed]
    inserted = bulk_insert(
        connection,
        ORDERS,
        _COLUMNS,
        rows,
        key=["external_id"],
        update=_COMPARED,
        touch="updated_at",
    )
    _write_lines(connection, changed, stored)
    if any(item.refunds for item, _ in changed):
        new = [  # the ids of new orders with refunds: their refunds refer to them
            item.external_id
            for item, _ in changed
            if item.external_id not in stored and item.refunds
        ]
        ids = {key: row.id for key, row in stored.items()}
        found = rows_by(connection, ORDERS.c.external_id, new, ORDERS.c.id)
        _write_refunds(connection, changed, ids | {k: r.id for k, r in found.items()})
    return inserted


def _write_lines(
    connection: Connection, changed: list[tuple[OrderIn, _Row]], stored: dict[str, Any]
) -> None:
    """Replace the lines of the orders whose items carry lines; the new lines find their
    order by its external id inside the INSERT (no look-up of the new orders' ids first)."""
    replaced = [item for item, _ in changed if item.lines is not None]
    if not replaced:
        return
    existing = [stored[i.external_id].id for i in replaced if i.external_id in stored]
    if existing:
        connection.execute(LINES.delete().where(one_of(connection, LINES.c.order_id, existing)))
    rows = [(*line, item.external_id) for item in replaced for line in _line_rows(item)]
    insert_under(
        connection, LINES, _LINE_COLUMNS, rows, link="order_id", parent=ORDERS.c.external_id
    )


def _write_refunds(
    connection: Connection, changed: list[tuple[OrderIn, _Row]], ids: dict[str, int]
) -> None:
    keyed: list[_Row] = []
    unkeyed: list[_Row] = []
    for item, _ in changed:
        for external_id, refunded_at, amount in _refund_keys(item):
            row = (ids[item.external_id], external_id, refunded_at, amount)
            (keyed if external_id is not None else unkeyed).append(row)
    bulk_insert(
        connection,
        REFUNDS,
        _REFUND_COLUMNS,
        keyed,
        key=["external_id"],
        update=["order_id", "refunded_at", "amount_minor"],
    )
    bulk_insert(
        connection,
        REFUNDS,
        _REFUND_COLUMNS,
        unkeyed,
        key=["order_id", "refunded_at", "amount_minor"],
        where="external_id IS NULL",  # the partial unique index uq_refunds_without_id
    )
