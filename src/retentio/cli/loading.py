"""The column-mapping options every analytics command shares, and loading with a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine

from retentio.analytics import (
    LoadReport,
    load_report,
    load_transactions,
    source_columns,
    write_transactions,
)
from retentio.core.errors import ConfigurationError, EmptyDataError
from retentio.store.arrow import read_transactions

__all__ = [
    "LoadOptions",
    "load_source",
    "load_with_progress",
    "observation_end_of",
    "read_store",
    "write_with_progress",
]

MAPPING = "Column mapping"
PARSING = "Parsing"


def _mapping(text: str) -> Any:
    return typer.Option(help=text, rich_help_panel=MAPPING)


def _parsing(text: str, *names: str) -> Any:
    return typer.Option(*names, help=text, rich_help_panel=PARSING)


CustomerCol = Annotated[str, _mapping("Column with the customer id.")]
OrderCol = Annotated[
    str, _mapping("Column with the order id; '-' when there is none (each row is one order).")
]
DateCol = Annotated[str, _mapping("Column with the order date/time.")]
AmountCol = Annotated[str, _mapping("Column with the amount.")]
CurrencyCol = Annotated[
    str | None, _mapping("Column with the currency code [default: 'currency' if present].")
]
StatusCol = Annotated[
    str | None, _mapping("Column with the order status [default: 'status' if present].")
]
Tz = Annotated[str, _parsing("Time zone of timestamps without an offset.")]
Currency = Annotated[str | None, _parsing("Currency of all rows when there is no currency column.")]
DateFormat = Annotated[
    str | None, _parsing("strftime format of the dates, e.g. %Y%m%d [default: ISO 8601].")
]
Decimal = Annotated[str, _parsing("Decimal separator of amounts written as text: . or ,")]
Rate = Annotated[
    list[str] | None,
    _parsing("Conversion rate CUR=VALUE (1 CUR in --base-currency); repeatable.", "--rate"),
]
BaseCurrency = Annotated[str | None, _parsing("Currency to convert all amounts into.")]
SkipInvalid = Annotated[
    bool,
    _parsing("Load the valid rows; write the rejected ones to a rejects file.", "--skip-invalid"),
]
Rejects = Annotated[
    Path | None, _parsing("Where --skip-invalid writes rejected rows [default: FILE.rejects.csv].")
]
Format = Annotated[
    str | None, _parsing("csv, parquet or jsonl [default: from the file name].", "--format")
]
Delimiter = Annotated[str | None, _parsing("CSV delimiter [default: ',' or tab for .tsv].")]
STORE = "The store"
FromStore = Annotated[
    bool,
    typer.Option(
        "--db",
        help="Read the orders from the store (see --database-url) instead of FILE.",
        rich_help_panel=STORE,
    ),
]
StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The store with --db: sqlite:///path.db or postgresql://user@host/db (default: "
        "RETENTIO_DATABASE_URL, else sqlite:///retentio.db).",
        rich_help_panel=STORE,
    ),
]
ObservationEnd = Annotated[
    str | None,
    typer.Option(
        help="Last day (inclusive) of data to use, YYYY-MM-DD [default: the last order's day].",
    ),
]


@dataclass(frozen=True)
class LoadOptions:
    """What the shared options say about reading the input file."""

    customer_col: str = "customer_id"
    order_col: str = "order_id"
    date_col: str = "ordered_at"
    amount_col: str = "amount"
    currency_col: str | None = None
    status_col: str | None = None
    tz: str = "UTC"
    currency: str | None = None
    date_format: str | None = None
    decimal: str = "."
    rate: tuple[str, ...] = ()
    base_currency: str | None = None
    skip_invalid: bool = False
    rejects: Path | None = None
    format: str | None = None
    delimiter: str | None = None
    db: bool = False
    database_url: str | None = None

    def rates(self) -> dict[str, float] | None:
        if not self.rate:
            return None
        parsed: dict[str, float] = {}
        for item in self.rate:
            code, sep, value = item.partition("=")
            try:
                parsed[code.strip().upper()] = float(value)
            except ValueError:
                sep = ""
            if not sep:
                raise ConfigurationError(f"--rate must look like DKK=0.134, got {item!r}")
        return parsed

    def kwargs(self, path: Path) -> dict[str, Any]:
        columns = source_columns(path, format=self.format)
        currency_col = self.currency_col or ("currency" if "currency" in columns else None)
        status_col = self.status_col or ("status" if "status" in columns else None)
        return {
            "customer_col": self.customer_col,
            "order_col": None if self.order_col == "-" else self.order_col,
            "date_col": self.date_col,
            "amount_col": self.amount_col,
            "currency_col": currency_col,
            "status_col": status_col,
            "tz": self.tz,
            "currency": self.currency,
            "date_format": self.date_format,
            "decimal": self.decimal,
            "rates": self.rates(),
            "base_currency": self.base_currency,
            "skip_invalid": self.skip_invalid,
            "rejects_path": self.rejects,
            "format": self.format,
            "delimiter": self.delimiter,
        }


def _progress_bar(path: Path, console: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn() if path.suffix.lower() not in {".parquet", ".pq"} else TextColumn(""),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _run_with_progress(path: Path, console: Console, job: Callable[[Any], Any]) -> Any:
    with _progress_bar(path, console) as bar:
        task = bar.add_task(f"Loading {path.name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        return job(progress)


def load_with_progress(path: Path, options: LoadOptions, console: Console) -> pa.Table:
    """Load ``path`` with a progress bar on stderr, then say what was collapsed or rejected."""
    kwargs = options.kwargs(path)
    table = _run_with_progress(
        path, console, lambda progress: load_transactions(path, progress=progress, **kwargs)
    )
    report = load_report(table)
    if report is not None:
        _say(report, path, console)
    return table


def write_with_progress(
    path: Path, output: Path, options: LoadOptions, console: Console
) -> LoadReport:
    """Normalise ``path`` into the Parquet file ``output`` with a progress bar."""
    kwargs = options.kwargs(path)
    report: LoadReport = _run_with_progress(
        path,
        console,
        lambda progress: write_transactions(path, output, progress=progress, **kwargs),
    )
    _say(report, path, console)
    return report


def _say(report: LoadReport, path: Path, console: Console) -> None:
    notes = []
    if report.duplicates_removed:
        notes.append(f"{report.duplicates_removed} duplicated order rows collapsed")
    if report.rejected:
        where = f" (see {report.rejects_path})" if report.rejects_path else ""
        notes.append(f"{report.rejected} invalid rows skipped{where}")
    if report.excluded_by_status:
        notes.append(f"{report.excluded_by_status} rows excluded by status")
    if report.converted_to:
        notes.append(f"amounts converted to {report.converted_to}")
    console.print(
        f"Loaded {report.orders:,} orders and {report.refunds:,} refunds from {path.name}"
        + (f"; {'; '.join(notes)}" if notes else "")
    )


def read_store(database_url: str | None, console: Console) -> pa.Table:
    """The store's transactions (``read_transactions``); the store must be migrated."""
    from retentio.cli.db import store_session  # db registers commands on the app: import late

    with store_session(database_url) as session:
        engine = session.get_bind()
        if not isinstance(engine, Engine):  # pragma: no cover - store_session binds an engine
            raise TypeError("the store session is not bound to an engine")
        with console.status("Reading the orders from the store"):
            table = read_transactions(engine)
        shown = engine.url.render_as_string(hide_password=True)
    if table.num_rows == 0:
        raise EmptyDataError(
            f"the store {shown} holds no orders yet: load some with `retentio load FILE`"
        )
    refunds = pc.sum(table["is_refund"]).as_py() or 0
    console.print(
        f"Read {table.num_rows - refunds:,} orders and {refunds:,} refunds from the store {shown}"
    )
    return table


def load_source(path: Path | None, options: LoadOptions, console: Console) -> pa.Table:
    """The orders of FILE or, with ``--db``, of the store; a clear error unless exactly one."""
    if options.db and path is not None:
        raise ConfigurationError("give an orders FILE or --db, not both")
    if options.db:
        return read_store(options.database_url, console)
    if options.database_url is not None:
        raise ConfigurationError("--database-url names the store to read with --db: add --db")
    if path is None:
        raise ConfigurationError("give an orders FILE, or --db to read the orders in the store")
    return load_with_progress(path, options, console)


def observation_end_of(table: pa.Table, given: str | None) -> date:
    """The observation end the user gave, or the day of the last transaction."""
    if given is not None:
        try:
            return date.fromisoformat(given)
        except ValueError as exc:
            raise ConfigurationError(f"--observation-end: not a date: {given!r}") from exc
    last = pc.max(table["ordered_at"]).as_py()
    return date.fromisoformat(str(last)[:10])
