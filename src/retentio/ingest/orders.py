"""Upsert orders in bulk, with their lines (replaced) and refunds (added once)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from retentio.ingest._sql import (
    audit,
    ensure_customers_apart,
    rows_by,
    rows_in,
    same_row,
    with_retry,
)
from retentio.ingest.models import OrderIn
from retentio.ingest.results import BatchRejected, BatchResult, keep_last, validate_items
from retentio.store.arrow import EXCLUDED_STATUSES
from retentio.store.bulk import bind_rows, bulk_insert, insert_under
from retentio.store.order_stats import SPEND, STATS, refresh_order_stats
from retentio.store.params import is_postgres, one_of
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
    batch = _Batch([item for _, item in valid], session.get_bind().dialect)  # outside the lock

    def write() -> BatchResult:
        connection = begin_write(session)
        wanted = {item.customer_id for item in batch.items}
        customers = ensure_customers_apart(session, connection, wanted)
        o = ORDERS.c
        stored = rows_by(
            connection,
            o.external_id,
            [i.external_id for i in batch.items],
            o.id,
            *(o[c] for c in _COMPARED),
        )
        old_lines, old_refunds = _children(connection, batch.items, stored)
        result = BatchResult(received=len(items), failed=len({e.index for e in invalid}))
        changed: list[int] = []  # positions in the batch
        for n, item in enumerate(batch.items):
            before = stored.get(item.external_id)
            if before is None:
                result.created += 1
            elif same_row(
                batch.compared(n, customers[item.customer_id][0]), before, _COMPARED
            ) and _same_children(item, batch.lines[n], before.id, old_lines, old_refunds):
                result.unchanged += 1
                continue
            else:
                result.updated += 1
            changed.append(n)
        _write(connection, batch, changed, customers, stored)
        new, recount = _figures(batch, changed, customers, stored)
        new.add_to(connection, recount)
        refresh_order_stats(connection, recount)
        result.errors = sorted(invalid, key=lambda e: e.index)
        audit(connection, actor, "orders.upsert", result)
        return result

    return with_retry(session, write, lock)


class _Batch:
    """The valid orders' rows, prepared before the write lock is taken: the order rows with
    their values converted for the database (the customer's id is filled in under the lock),
    and the lines of the orders that carry lines."""

    def __init__(self, items: list[OrderIn], dialect: Dialect) -> None:
        self.items = items
        self.totals: list[int] = []
        self.lines: list[list[_Row] | None] = []
        rows = []
        for item in items:
            total, amounts = item.minor_amounts()
            self.totals.append(total)
            rows.append(
                (item.external_id, None, item.ordered_at, item.currency, total, item.status)
            )
            self.lines.append(
                None
                if item.lines is None
                else [
                    (n, line.sku, line.name, line.quantity, amount)
                    for n, (line, amount) in enumerate(zip(item.lines, amounts, strict=True), 1)
                ]
            )
        self.rows = bind_rows(dialect, ORDERS, _COLUMNS, rows)

    def compared(self, n: int, customer_id: int) -> _Row:
        """Order ``n``'s values of ``_COMPARED``, as the database hands them back."""
        item = self.items[n]
        return customer_id, item.ordered_at, item.currency, self.totals[n], item.status

    def row(self, n: int, customer_id: int) -> _Row:
        """Order ``n``'s converted row of ``_COLUMNS``."""
        external_id, _, ordered_at, currency, total, status = self.rows[n]
        return external_id, customer_id, ordered_at, currency, total, status


def _refund_keys(item: OrderIn) -> list[tuple[Any, ...]]:
    return [(r.external_id, r.refunded_at, item.minor(r.amount)) for r in item.refunds or ()]


def _children(
    connection: Connection, items: list[OrderIn], stored: dict[str, Any]
) -> tuple[dict[int, list[tuple[Any, ...]]], dict[int, set[tuple[Any, ...]]]]:
    """The stored lines and refunds of the stored orders whose items carry lines / refunds."""
    known = [(stored[i.external_id].id, i) for i in items if i.external_id in stored]
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
    given: list[_Row] | None,
    order_id: int,
    lines: dict[int, list[_Row]],
    refunds: dict[int, set[_Row]],
) -> bool:
    """Whether the stored order ``order_id`` has the lines ``given`` (None: left out, kept)
    and every refund of ``item`` already."""
    if given is not None and lines.get(order_id, []) != given:
        return False
    have = refunds.get(order_id, set())
    return all(key in have for key in _refund_keys(item))


def _write(
    connection: Connection,
    batch: _Batch,
    changed: list[int],
    customers: dict[str, Any],
    stored: dict[str, Any],
) -> None:
    """Write the ``changed`` orders of ``batch``, then their lines and refunds.

    New orders go in by a plain INSERT, which is cheaper than an upsert: the look-up inside
    this write transaction found them missing (exact on SQLite under ``BEGIN IMMEDIATE``); on
    PostgreSQL a concurrent batch that inserted one of them first makes the INSERT fail with a
    unique violation, and :func:`with_retry` runs the batch again, which then reads it as
    stored (again, if overlapping batches make it lose another race). Stored orders are
    upserted (orders are never deleted).
    """
    items = batch.items
    changed.sort(key=lambda n: items[n].external_id)  # one lock order for every batch

    def rows(positions: list[int]) -> list[_Row]:
        return [batch.row(n, customers[items[n].customer_id][0]) for n in positions]

    bulk_insert(
        connection,
        ORDERS,
        _COLUMNS,
        rows([n for n in changed if items[n].external_id not in stored]),
        bound=True,
    )
    bulk_insert(
        connection,
        ORDERS,
        _COLUMNS,
        rows([n for n in changed if items[n].external_id in stored]),
        key=["external_id"],
        update=_COMPARED,
        touch="updated_at",
        bound=True,
    )
    _write_lines(connection, batch, changed, stored)
    with_refunds = [items[n] for n in changed if items[n].refunds]
    if with_refunds:
        new = [i.external_id for i in with_refunds if i.external_id not in stored]
        ids = {key: row.id for key, row in stored.items()}
        found = rows_by(connection, ORDERS.c.external_id, new, ORDERS.c.id)
        _write_refunds(connection, with_refunds, ids | {k: r.id for k, r in found.items()})


class _NewOrders:
    """The figures the new orders of a batch add to their customers' (orders that are not
    cancelled or pending): per customer, and per customer and currency."""

    def __init__(self) -> None:
        self.counts: dict[int, list[Any]] = {}  # customer -> [orders, first, latest]
        self.spend: dict[tuple[int, str], list[int]] = {}  # (customer, currency) -> [n, minor]

    def add(self, customer: int, at: Any, currency: str, net_minor: int) -> None:
        """Count an order placed ``at`` (the time as converted for the database: those of one
        database compare as the times do)."""
        known = self.counts.get(customer)
        if known is None:
            self.counts[customer] = [1, at, at]
        else:
            known[0] += 1
            known[1] = min(known[1], at)
            known[2] = max(known[2], at)
        spent = self.spend.setdefault((customer, currency), [0, 0])
        spent[0] += 1
        spent[1] += net_minor

    def add_to(self, connection: Connection, recounted: set[int]) -> None:
        """Add these figures, but for the ``recounted`` customers', to the stored ones: one
        upsert of increments per table (concurrent batches apply theirs one after the other).
        """
        postgres = is_postgres(connection)
        lower, upper = ("LEAST", "GREATEST") if postgres else ("min", "max")
        s, p = STATS.name, SPEND.name
        counts = [(c, *v) for c, v in sorted(self.counts.items()) if c not in recounted]
        bulk_insert(
            connection,
            STATS,
            ("customer_id", "order_count", "first_order_at", "last_order_at"),
            counts,
            bound=True,  # the times are the order rows' converted ones
            key=["customer_id"],
            update={
                "order_count": f"{s}.order_count + excluded.order_count",
                "first_order_at": f"{lower}({s}.first_order_at, excluded.first_order_at)",
                "last_order_at": f"{upper}({s}.last_order_at, excluded.last_order_at)",
            },
        )
        spend = [(*k, *v) for k, v in sorted(self.spend.items()) if k[0] not in recounted]
        bulk_insert(
            connection,
            SPEND,
            ("customer_id", "currency", "order_count", "spend_minor"),
            spend,
            key=["customer_id", "currency"],
            update={
                "order_count": f"{p}.order_count + excluded.order_count",
                "spend_minor": f"{p}.spend_minor + excluded.spend_minor",
            },
        )


def _figures(
    batch: _Batch, changed: list[int], customers: dict[str, Any], stored: dict[str, Any]
) -> tuple[_NewOrders, set[int]]:
    """The figures the new orders add to their customers', and the customers whose figures
    must be recomputed: those of changed stored orders (before and after, as an order may move
    to another customer)."""
    new, recount = _NewOrders(), set[int]()
    for n in changed:
        item = batch.items[n]
        customer = customers[item.customer_id][0]
        before = stored.get(item.external_id)
        if before is not None:
            recount.update((customer, before.customer_id))
        elif item.status not in EXCLUDED_STATUSES:
            refunded = sum(item.minor(refund.amount) for refund in item.refunds or ())
            at = batch.rows[n][2]  # converted for the database already (in the same order)
            new.add(customer, at, item.currency, batch.totals[n] - refunded)
    return new, recount


def _write_lines(
    connection: Connection, batch: _Batch, changed: list[int], stored: dict[str, Any]
) -> None:
    """Replace the lines of the orders whose items carry lines; the new lines find their
    order by its external id inside the INSERT (no look-up of the new orders' ids first)."""
    replaced = [n for n in changed if batch.lines[n] is not None]
    if not replaced:
        return
    keys = [batch.items[n].external_id for n in replaced]
    existing = [stored[key].id for key in keys if key in stored]
    if existing:
        connection.execute(LINES.delete().where(one_of(connection, LINES.c.order_id, existing)))
    rows = [
        (*line, key) for n, key in zip(replaced, keys, strict=True) for line in batch.lines[n] or ()
    ]
    insert_under(
        connection, LINES, _LINE_COLUMNS, rows, link="order_id", parent=ORDERS.c.external_id
    )


def _write_refunds(connection: Connection, items: list[OrderIn], ids: dict[str, int]) -> None:
    keyed: list[_Row] = []
    unkeyed: list[_Row] = []
    for item in items:
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
