"""Upsert customers in bulk, refusing erased people and suppressed addresses."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.orm import Session

from retentio.ingest._sql import CUSTOMERS, audit, rows_by, rows_in, same_row, with_retry
from retentio.ingest.models import CustomerIn
from retentio.ingest.results import BatchRejected, BatchResult, ItemError, keep_last, validate_items
from retentio.privacy import address_hmac
from retentio.store.bulk import bulk_insert
from retentio.store.tables import Suppression
from retentio.store.transactions import begin_write

__all__ = ["ingest_customers"]

_FIELDS = ("email", "phone", "first_name", "locale", "time_zone", "country", "attributes")
#: The columns of a written customer, in the order of its row.
_COLUMNS = ("external_id", *_FIELDS)
SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[assignment]
_SUPPRESSED = "this address is suppressed (erased or unsubscribed) and cannot be imported"


def ingest_customers(
    session: Session,
    items: Sequence[Any],
    *,
    atomic: bool = False,
    secret: bytes | None = None,
    actor: str,
    lock: AbstractContextManager[Any] | None = None,
) -> BatchResult:
    """Validate ``items`` (decoded JSON) one by one and upsert the valid ones by external id.

    A field an item leaves out keeps its stored value; a field given as null is cleared.
    Refused: invalid items, every item but the last of one external id, customers who were
    erased, and (with ``secret``, the suppression list's HMAC key) suppressed addresses.
    ``atomic``: refuse the whole batch (:class:`BatchRejected`, nothing written) if any item
    is refused. Commits; one audit entry per batch.
    ``lock`` (a server's SQLite writer lock), if given, is held while it writes, not while it
    validates.
    """
    valid, invalid = validate_items(CustomerIn, items)
    valid = keep_last(valid, "external_id", invalid)
    if atomic and invalid:
        raise BatchRejected(sorted(invalid, key=_order), len(items))

    def write() -> BatchResult:
        errors = list(invalid)
        connection = begin_write(session)
        c = CUSTOMERS.c
        stored = rows_by(
            connection,
            c.external_id,
            [i.external_id for _, i in valid],
            c.erased_at,
            *(c[name] for name in _FIELDS),
        )
        refused = _refusals(connection, valid, stored, secret)
        errors += refused.values()
        if atomic and errors:  # with_retry rolls back: nothing is written
            raise BatchRejected(sorted(errors, key=_order), len(items))
        result = BatchResult(received=len(items), failed=len({e.index for e in errors}))
        changed: list[tuple[Any, ...]] = []
        for index, item in valid:
            if index in refused:
                continue
            before = stored.get(item.external_id)
            row = _merged(item, before)
            if before is None:
                result.created += 1
            elif same_row(row[1:], before, _FIELDS):
                result.unchanged += 1
                continue
            else:
                result.updated += 1
            changed.append(row)
        result.settle(result.created, _upsert(connection, changed))
        result.errors = sorted(errors, key=_order)
        audit(connection, actor, "customers.upsert", result)
        return result

    return with_retry(session, write, lock)


def _order(error: ItemError) -> tuple[int, str]:
    return error.index, error.field


def _merged(item: CustomerIn, before: Any) -> tuple[Any, ...]:
    """The row to store (the values of ``_COLUMNS``): the stored values, overwritten by the
    fields the item gives."""
    given = item.model_fields_set
    return (
        item.external_id,
        *(
            getattr(item, name) if name in given or before is None else before._mapping[name]
            for name in _FIELDS
        ),
    )


def _refusals(
    connection: Connection,
    valid: list[tuple[int, CustomerIn]],
    stored: dict[str, Any],
    secret: bytes | None,
) -> dict[int, ItemError]:
    """The items refused because the person was erased or an address is suppressed."""
    refused: dict[int, ItemError] = {}
    for index, item in valid:
        before = stored.get(item.external_id)
        if before is not None and before.erased_at is not None:
            refused[index] = ItemError(
                index, "external_id", "this customer was erased and cannot be imported again"
            )
    if secret is None:
        return refused
    digests: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for index, item in valid:
        if item.email is not None:
            key = ("email", address_hmac(secret, "email", item.email))
            digests.setdefault(key, []).append((index, "email"))
        if item.phone is not None:
            key = ("sms", address_hmac(secret, "sms", item.phone))
            digests.setdefault(key, []).append((index, "phone"))
    if not digests:
        return refused
    s = SUPPRESSIONS.c
    query = select(s.channel, s.address_hmac)
    found = rows_in(connection, query, s.address_hmac, {digest for _, digest in digests})
    hits = {(row.channel, row.address_hmac) for row in found}
    for key in sorted(hits & digests.keys()):
        for index, field in digests[key]:
            refused.setdefault(index, ItemError(index, field, _SUPPRESSED))
    return refused


def _upsert(connection: Connection, rows: list[tuple[Any, ...]]) -> int | None:
    if not rows:
        return None
    rows.sort(key=lambda row: row[0])  # one lock order for concurrent batches
    return bulk_insert(
        connection,
        CUSTOMERS,
        _COLUMNS,
        rows,
        key=["external_id"],
        update=_FIELDS,
        touch="updated_at",
    )
