"""`retentio load FILE` into the store: orders (through the analytics loader), customers, events."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy.orm import Session

from retentio.analytics import source_columns
from retentio.bootstrap import Settings
from retentio.cli.db import store_session
from retentio.cli.loading import LoadOptions, load_with_progress
from retentio.core.csvsafe import write_csv
from retentio.core.errors import ConfigurationError, DataError
from retentio.ingest import (
    STATUSES,
    BatchRejected,
    BatchResult,
    CustomerIn,
    EventIn,
    ItemError,
    OrderIn,
    ingest_customers,
    ingest_events,
    ingest_orders,
)
from retentio.ingest.results import validate_items

__all__ = ["KINDS", "detect_kind", "load_into_store"]

KINDS = ("orders", "customers", "events")
BATCH = 10_000
ACTOR = "cli:load"
_LISTED = 20
_JSON_COLUMNS = {"customers": "attributes", "events": "properties"}
Ingest = Callable[..., BatchResult]
_SERVICES: dict[str, tuple[Ingest, type[BaseModel]]] = {
    "orders": (ingest_orders, OrderIn),
    "customers": (ingest_customers, CustomerIn),
    "events": (ingest_events, EventIn),
}


def detect_kind(path: Path, options: LoadOptions) -> str:
    """orders, customers or events, from the file's columns; a clear error when unclear."""
    columns = set(source_columns(path, format=options.format))
    if {options.date_col, options.amount_col} <= columns:
        return "orders"
    if {"customer_id", "name", "occurred_at"} <= columns:
        return "events"
    if "external_id" in columns:
        return "customers"
    raise ConfigurationError(
        f"cannot tell what {path.name} holds from its columns ({', '.join(sorted(columns))}): "
        f"orders have {options.date_col} and {options.amount_col} (see --date-col, "
        "--amount-col), events customer_id, name and occurred_at, customers external_id; "
        "say which with --kind orders|customers|events"
    )


def load_into_store(
    path: Path, kind: str, options: LoadOptions, database_url: str | None, console: Console
) -> BatchResult:
    """Validate ``path`` and upsert it into the store; nothing is written when a row is bad,
    unless ``--skip-invalid``, which writes the refused rows to a rejects file instead."""
    if kind not in KINDS:
        raise ConfigurationError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "orders":
        items, where = _order_items(path, options, console)
    else:
        items, where = _records(path, kind, options)
    ingest, model = _SERVICES[kind]
    rejected: list[tuple[str, str, str]] = []
    valid, errors = validate_items(model, items)  # all of them first: a bad row writes nothing
    if errors:
        if not options.skip_invalid:
            raise DataError(_problems(errors, where, path, len(items)))
        rejected += [(where[e.index], e.field, e.message) for e in errors]
    # The services take the validated items as they are (validating them once is enough).
    items, where = [item for _, item in valid], [where[i] for i, _ in valid]
    secret = Settings().secret_key
    if kind == "customers" and secret is None:
        console.print("[yellow]RETENTIO_SECRET_KEY is not set: the suppression list is not checked")
    key = None if secret is None else secret.get_secret_value().encode()
    with store_session(database_url) as session:
        total = _write(session, ingest, items, kind, options, key, console)
    rejected += [(where[e.index], e.field, e.message) for e in total.errors]
    if rejected:
        _reject(path, kind, options, rejected, console)
    total.received += len(rejected) - len(total.errors)
    total.failed = len({row for row, _, _ in rejected})
    return total


def _write(
    session: Session,
    ingest: Ingest,
    items: Sequence[Any],
    kind: str,
    options: LoadOptions,
    secret: bytes | None,
    console: Console,
) -> BatchResult:
    """Upsert in batches of 10,000; people and events in one atomic batch unless
    ``--skip-invalid``, so a refusal by the store (an erased or suppressed person) writes
    nothing."""
    atomic = kind != "orders" and not options.skip_invalid
    size = len(items) if atomic else BATCH
    total = BatchResult(received=len(items))
    bar = Progress(
        TextColumn(f"Writing {kind}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(kind, total=len(items))
        for start in range(0, len(items), max(size, 1)):
            part = items[start : start + size]
            try:
                done = ingest(session, part, atomic=atomic, secret=secret, actor=ACTOR)
            except BatchRejected as exc:
                raise BatchRejected(
                    [ItemError(e.index + start, e.field, e.message) for e in exc.errors],
                    len(items),
                ) from None
            total.created += done.created
            total.updated += done.updated
            total.unchanged += done.unchanged
            total.failed += done.failed
            total.errors += [ItemError(e.index + start, e.field, e.message) for e in done.errors]
            bar.update(task, advance=len(part))
    return total


def _problems(errors: Sequence[ItemError], where: Sequence[str], path: Path, rows: int) -> str:
    bad = len({e.index for e in errors})
    listed = "; ".join(
        f"{where[e.index]}: {e.field + ': ' if e.field else ''}{e.message}"
        for e in errors[:_LISTED]
    )
    more = f" (the first {_LISTED} of {len(errors)} problems)" if len(errors) > _LISTED else ""
    return (
        f"{bad} of {rows} row(s) of {path.name} are invalid, so nothing was written: "
        f"{listed}{more}. Fix them, or load with --skip-invalid to write the valid rows and "
        "the refused ones to a rejects file."
    )


def _reject(
    path: Path,
    kind: str,
    options: LoadOptions,
    rejected: Sequence[tuple[str, str, str]],
    console: Console,
) -> None:
    """Write the refused rows (where, field, message; no address is echoed) to a rejects file.

    Orders: beside the analytics loader's rejects, as ``FILE.store-rejects.csv``."""
    if kind == "orders":
        target = path.with_name(path.name + ".store-rejects.csv")
    else:
        target = options.rejects or path.with_name(path.name + ".rejects.csv")
    frame = pd.DataFrame(list(rejected), columns=["row", "field", "message"])
    write_csv(frame, target)
    console.print(f"{len({row for row, _, _ in rejected}):,} row(s) refused; see {target}")


def _records(path: Path, kind: str, options: LoadOptions) -> tuple[list[Any], list[str]]:
    """The rows of a CSV or JSON-lines file as JSON-like items, with where each one is."""
    fmt = (options.format or "").lower() or (
        "jsonl" if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} else "csv"
    )
    if fmt not in {"csv", "jsonl"}:
        raise ConfigurationError(f"{kind} load from CSV or JSON lines, not {fmt}")
    items: list[Any] = []
    where: list[str] = []
    rows = _jsonl(path) if fmt == "jsonl" else _csv(path, options, _JSON_COLUMNS[kind])
    for line, item in rows:
        items.append(item)
        where.append(f"line {line}")
    if not items:
        raise DataError(f"{path.name} holds no rows")
    return items, where


def _jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, _Unreadable(f"not valid JSON: {exc.msg} (column {exc.colno})")


class _Unreadable(str):
    """A line that is not JSON: validation reports it as an item that is not an object."""


def _csv(path: Path, options: LoadOptions, json_column: str) -> Iterator[tuple[int, Any]]:
    delimiter = options.delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        for row in reader:
            item: dict[str, Any] = {k: v for k, v in row.items() if v not in ("", None)}
            if isinstance(item.get(json_column), str):
                try:
                    item[json_column] = json.loads(item[json_column])
                except json.JSONDecodeError:
                    pass  # left as text: validation says it must be a JSON object
            yield reader.line_num, item


def _order_items(path: Path, options: LoadOptions, console: Console) -> tuple[list[Any], list[str]]:
    """The orders file, validated by the analytics loader, as order items with their refunds."""
    table: pa.Table = load_with_progress(path, options, console)
    orders: dict[str, dict[str, Any]] = {}
    refunds: list[dict[str, Any]] = []
    for row in table.to_pylist():
        if row["is_refund"]:
            refunds.append(row)
            continue
        status = (row["status"] or "completed").lower()
        orders[row["order_id"]] = {
            "external_id": row["order_id"],
            "customer_id": row["customer_id"],
            "ordered_at": row["ordered_at"],
            "currency": row["currency"],
            "total": row["amount"],
            "status": status if status in STATUSES else "completed",
        }
    orphans = []
    for row in refunds:
        order = orders.get(row["order_id"])
        if order is None:
            orphans.append(row["order_id"])
            continue
        order.setdefault("refunds", []).append(
            {"refunded_at": row["ordered_at"], "amount": -row["amount"]}
        )
    if orphans:
        shown = ", ".join(sorted(set(orphans))[:_LISTED])
        message = f"{len(orphans)} refund row(s) of orders that are not in {path.name}: {shown}"
        if not options.skip_invalid:
            raise DataError(f"{message}; nothing was written (--skip-invalid leaves them out)")
        console.print(f"[yellow]{message}: left out")
    items = list(orders.values())
    return items, [f"order {item['external_id']}" for item in items]
