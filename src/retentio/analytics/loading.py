"""Load transactions from a file or table into the normalised transactions table.

The whole input is parsed and validated in DuckDB (streamed in from Arrow batches, so memory
stays bounded by the result), then either accepted as a whole or, with ``skip_invalid``, accepted
without the rejected rows, which are written to a rejects file. Nothing is returned half-loaded.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import zoneinfo
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from retentio.analytics import schema as s
from retentio.analytics._duck import connect, scalar
from retentio.analytics._parsing import REASONS, parse_sql
from retentio.analytics.sources import ROW, Progress, Source, open_source
from retentio.core.errors import (
    ConfigurationError,
    CurrencyError,
    EmptyDataError,
    ParseError,
    RowProblem,
    SchemaError,
)

__all__ = [
    "DEFAULT_EXCLUDED_STATUSES",
    "DEFAULT_REFUND_STATUSES",
    "LoadReport",
    "load_report",
    "load_transactions",
    "source_columns",
    "write_transactions",
]

DEFAULT_REFUND_STATUSES = ("refunded", "refund", "returned", "return", "chargeback")
DEFAULT_EXCLUDED_STATUSES = ("cancelled", "canceled", "failed", "voided", "pending")
UNKNOWN_CURRENCY = "XXX"  # ISO 4217: "no currency involved"
_REPORT_KEY = b"retentio.load_report"


# An order id appears once as a purchase; refunds of it are duplicates only when identical, so
# several partial refunds of one order are all kept.
def _duplicate_key(alias: str = "") -> dict[str, str]:
    """The columns that identify one order (or one identical refund) in ``parsed``."""
    a = alias
    return {
        "k_order": f"{a}order_id",
        "k_refund": f"{a}is_refund",
        "k_at": f"CASE WHEN {a}is_refund THEN {a}ordered_at END",
        "k_amount": f"CASE WHEN {a}is_refund THEN {a}amount END",
    }


_MAPPING = {
    "customer_id": "customer",
    "order_id": "order",
    "ordered_at": "date",
    "amount": "amount",
    "currency": "currency",
    "status": "status",
}
_FIELDS = ("customer_id", "order_id", "ordered_at", "amount", "currency", "status")


@dataclass(frozen=True)
class LoadReport:
    """What a load did: rows read, accepted, collapsed, rejected and excluded."""

    source: str
    rows_read: int
    rows_loaded: int
    orders: int
    refunds: int
    duplicates_removed: int
    conflicting_duplicates: int
    rejected: int
    rejects_path: str | None
    excluded_by_status: int
    currencies: dict[str, int] = field(default_factory=dict)
    converted_to: str | None = None


def load_report(table: pa.Table) -> LoadReport | None:
    """The :class:`LoadReport` stored in a table returned by :func:`load_transactions`."""
    raw = (table.schema.metadata or {}).get(_REPORT_KEY)
    return None if raw is None else LoadReport(**json.loads(raw))


def source_columns(source: object, *, format: str | None = None) -> list[str]:
    """The column names of ``source`` (reads only the header or the schema)."""
    return open_source(source, fmt=format).columns


def _check_columns(src: Source, mapping: Mapping[str, str | None]) -> dict[str, str]:
    if not src.columns:
        raise EmptyDataError(f"{src.name} is empty: no header and no rows")
    wanted = {f: c for f, c in mapping.items() if c is not None}
    missing = [f"{c!r} (for {f})" for f, c in wanted.items() if c not in src.columns]
    if missing:
        available = ", ".join(repr(c) for c in src.columns) or "none"
        raise SchemaError(
            f"{src.name}: missing column(s) {', '.join(missing)}; available columns: {available}"
        )
    return wanted


def _problems(
    con: duckdb.DuckDBPyConnection, fields: list[str], limit: int
) -> tuple[dict[str, int], list[RowProblem]]:
    sums = ", ".join(f"count(*) FILTER (WHERE bad_{f})" for f in fields)
    found = con.execute(f"SELECT {sums} FROM parsed").fetchall()[0]
    counts = {f: int(n) for f, n in zip(fields, found, strict=True) if n}
    problems: list[RowProblem] = []
    for f in fields:
        if f not in counts:
            continue
        raw = f"r_{f}" if f != "order_id" or f"r_{f}" in _columns(con) else "NULL"
        rows = con.execute(
            f"SELECT {ROW}, {raw} FROM parsed WHERE bad_{f} ORDER BY {ROW} LIMIT {limit}"
        ).fetchall()
        problems += [
            RowProblem(int(r), f, "" if v is None else str(v), REASONS[f]) for r, v in rows
        ]
    problems.sort(key=lambda p: (p.row, _FIELDS.index(p.field)))
    return counts, problems[:limit]


def _columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(c) for c in con.sql("SELECT * FROM parsed LIMIT 0").columns]


def _set_rejects_aside(con: duckdb.DuckDBPyConnection, fields: list[str]) -> None:
    """Move the rejected rows from ``parsed`` into ``rejects`` (row, reason, raw values)."""
    reasons = ", ".join(f"CASE WHEN bad_{f} THEN '{f}: {REASONS[f]}' END" for f in fields)
    raws = [f"{c} AS {c[2:]}" for c in _columns(con) if c.startswith("r_")]
    select = ", ".join([f"{ROW} AS row", f"concat_ws('; ', {reasons}) AS reason", *raws])
    any_bad = " OR ".join(f"bad_{f}" for f in fields)
    con.execute(f"CREATE TEMP TABLE rejects AS SELECT {select} FROM parsed WHERE {any_bad}")
    con.execute(f"DELETE FROM parsed WHERE {any_bad}")


def _write_rejects(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Write the ``rejects`` table to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".rejects-", suffix=".csv", dir=path.parent)
    os.close(fd)
    try:
        con.sql("SELECT * FROM rejects ORDER BY row").write_csv(tmp, header=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _collapse_duplicates(con: duckdb.DuckDBPyConnection) -> int:
    """Keep the first row of every duplicated order; return how many of them conflict.

    Duplicates are rare, so they are found with one aggregation into a small table and deleted
    by row number; the big table is never sorted or windowed.
    """
    key = _duplicate_key()
    keys = ", ".join(f"{expr} AS {name}" for name, expr in key.items())
    con.execute(
        f"CREATE TABLE duplicate_keys AS SELECT {', '.join(key)}, min({ROW}) AS keep "
        f"FROM (SELECT {ROW}, {keys} FROM parsed) GROUP BY ALL HAVING count(*) > 1"
    )
    if scalar(con, "SELECT count(*) FROM duplicate_keys") == 0:
        return 0
    match = " AND ".join(
        f"d.{name} IS NOT DISTINCT FROM {expr}" for name, expr in _duplicate_key("p.").items()
    )
    con.execute(
        f"CREATE TABLE duplicate_rows AS SELECT p.{ROW}, d.keep, p.customer_id, p.amount, "
        f"p.ordered_at FROM parsed p JOIN duplicate_keys d ON {match}"
    )
    conflicts = scalar(
        con,
        "SELECT count(*) FROM (SELECT keep FROM duplicate_rows GROUP BY keep "
        "HAVING count(DISTINCT customer_id) > 1 OR count(DISTINCT amount) > 1 "
        "OR count(DISTINCT ordered_at) > 1)",
    )
    con.execute(
        f"DELETE FROM parsed WHERE {ROW} IN (SELECT {ROW} FROM duplicate_rows WHERE {ROW} <> keep)"
    )
    return conflicts


def _convert(
    con: duckdb.DuckDBPyConnection,
    currencies: dict[str, int],
    rates: Mapping[str, float] | None,
    base_currency: str | None,
) -> str | None:
    if len(currencies) <= 1 and rates is None:
        return None
    if rates is None or base_currency is None:
        listed = ", ".join(f"{c} ({n} rows)" for c, n in currencies.items())
        raise CurrencyError(
            f"amounts are in several currencies: {listed}; pass rates={{currency: rate}} and "
            "base_currency (CLI: --rate DKK=0.134 --base-currency EUR) to convert them, or "
            "filter the input to one currency"
        )
    base = base_currency.upper()
    table = {c.upper(): float(r) for c, r in rates.items()}
    table.setdefault(base, 1.0)
    missing = sorted(set(currencies) - set(table))
    if missing:
        raise CurrencyError(f"no conversion rate for {', '.join(missing)} into {base}")
    con.execute("CREATE TABLE rates (currency VARCHAR, rate DOUBLE)")
    con.executemany("INSERT INTO rates VALUES (?, ?)", list(table.items()))
    con.execute(
        "UPDATE parsed SET amount = round(amount * r.rate, 2), currency = ? "
        "FROM rates r WHERE parsed.currency = r.currency",
        [base],
    )
    return base


def load_transactions(
    source: object,
    *,
    customer_col: str = s.CUSTOMER_ID,
    order_col: str | None = s.ORDER_ID,
    date_col: str = s.ORDERED_AT,
    amount_col: str = s.AMOUNT,
    currency_col: str | None = None,
    status_col: str | None = None,
    tz: str = "UTC",
    currency: str | None = None,
    date_format: str | None = None,
    decimal: str = ".",
    refund_statuses: Collection[str] = DEFAULT_REFUND_STATUSES,
    excluded_statuses: Collection[str] = DEFAULT_EXCLUDED_STATUSES,
    rates: Mapping[str, float] | None = None,
    base_currency: str | None = None,
    skip_invalid: bool = False,
    rejects_path: str | Path | None = None,
    format: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
    memory_limit: str = "1GB",
) -> pa.Table:
    """Read, map, validate and normalise transactions.

    Parameters
    ----------
    source
        Path of a CSV (optionally .gz), Parquet or JSON-lines file, or a pandas / polars /
        pyarrow table.
    customer_col, order_col, date_col, amount_col, currency_col, status_col
        The source's column for each normalised field. ``order_col=None`` numbers the rows
        (one row = one order). Without ``currency_col`` every row is in ``currency``.
    tz
        IANA time zone in which naive timestamps are interpreted; aware ones keep their offset.
    currency
        Currency of all rows when there is no currency column (default ``XXX``, "unspecified").
    date_format
        strftime-style format of the date column (e.g. ``"%Y%m%d"``); default: ISO 8601.
    decimal
        Decimal separator of amounts held as text: ``"."`` or ``","`` (then ``.`` is a
        thousands separator).
    refund_statuses, excluded_statuses
        Status values (case-insensitive) that mark a refund / a row that is not an order.
        Refunds (and negative amounts) are kept with a negative amount and ``is_refund``.
    rates, base_currency
        Conversion of several currencies into one: ``rates[c]`` is the value of one unit of
        ``c`` in ``base_currency``.
    skip_invalid
        Accept the valid rows and write the rejected ones to ``rejects_path`` (default: beside
        the source file as ``<name>.rejects.csv``; not written for in-memory sources).
    format, delimiter
        Override the file format detected from the suffix, and the CSV delimiter.
    progress
        ``progress(done, total)`` callback (bytes of text files, rows otherwise).
    memory_limit
        DuckDB's working-memory limit while parsing (beyond it, it spills to a temporary
        directory); the returned table comes on top of it.

    Returns
    -------
    pyarrow.Table
        The normalised table (:data:`retentio.analytics.schema.TRANSACTIONS_SCHEMA`), one row
        per order or refund, in source order; :func:`load_report` reads what the load did.

    Raises
    ------
    SchemaError, ParseError, EmptyDataError, CurrencyError, ConfigurationError
    """
    options = dict(locals())
    del options["source"]
    parts: list[pa.Table] = []
    _run(source, options, lambda tables: parts.extend(tables))
    return pa.concat_tables(parts)


def write_transactions(source: object, path: str | Path, **options: Any) -> LoadReport:
    """Like :func:`load_transactions`, but write the normalised table to a Parquet file.

    The rows go to ``path`` batch by batch (a temporary file, renamed when complete), so the
    whole table is never held in memory: use it for files larger than RAM. Takes the same
    keyword arguments as :func:`load_transactions`; returns what the load did.
    """
    try:
        bound = inspect.signature(load_transactions).bind(source, **options)
    except TypeError as exc:
        raise ConfigurationError(f"write_transactions: {exc}") from exc
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    del arguments["source"]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", suffix=".tmp", dir=target.parent)
    os.close(fd)

    def write(tables: Iterator[pa.Table]) -> None:
        first = next(tables)  # its schema carries the load report in its metadata
        with pq.ParquetWriter(tmp, first.schema, compression="zstd") as writer:
            writer.write_table(first)
            for table in tables:
                writer.write_table(table)

    try:
        report = _run(source, arguments, write)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


def _run(
    source: object, options: dict[str, Any], emit: Callable[[Iterator[pa.Table]], None]
) -> LoadReport:
    """Validate the options, parse ``source`` in DuckDB and hand the result to ``emit``."""
    tz: str = options["tz"]
    decimal: str = options["decimal"]
    currency: str | None = options["currency"]
    currency_col: str | None = options["currency_col"]
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"tz: unknown time zone {tz!r}") from exc
    if decimal not in {".", ","}:
        raise ConfigurationError(f"decimal must be '.' or ',', got {decimal!r}")
    fixed_currency = (currency or UNKNOWN_CURRENCY).upper()
    if currency_col is None and (len(fixed_currency) != 3 or not fixed_currency.isalpha()):
        raise ConfigurationError(f"currency must be a 3-letter code, got {currency!r}")

    src = open_source(
        source,
        fmt=options["format"],
        delimiter=options["delimiter"],
        progress=options["progress"],
    )
    mapping = {field: options[f"{column}_col"] for field, column in _MAPPING.items()}
    cols = _check_columns(src, mapping)
    sql = parse_sql(
        src,
        cols,
        currency=fixed_currency,
        date_format=options["date_format"],
        decimal=decimal,
        refund_statuses=options["refund_statuses"],
        excluded_statuses=options["excluded_statuses"],
    )
    # A scratch database on disk: DuckDB compresses it and spills past memory_limit, so a
    # large file loads in bounded memory (only the caller's result can be a full copy in RAM).
    with tempfile.TemporaryDirectory(prefix="retentio-load-") as scratch:
        database = Path(scratch) / "load.duckdb"
        con = connect(tz=tz, memory_limit=options["memory_limit"], database=database)
        try:
            return _load(con, src, cols, sql, source, options, emit)
        finally:
            con.close()


def _load(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    cols: dict[str, str],
    sql: str,
    source: object,
    options: dict[str, Any],
    emit: Callable[[Iterator[pa.Table]], None],
) -> LoadReport:
    skip_invalid: bool = options["skip_invalid"]
    rejects_path: str | Path | None = options["rejects_path"]
    wanted = list(dict.fromkeys(cols.values()))
    batch_schema = pa.schema([src.schema.field(c) for c in wanted] + [pa.field(ROW, pa.int64())])
    failure: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from src.batches(wanted)
        except Exception as exc:  # DuckDB would wrap it: keep it to raise it as it is
            failure.append(exc)
            raise

    reader = pa.RecordBatchReader.from_batches(batch_schema, batches())
    con.register("source_batches", reader)
    try:
        con.execute(f"CREATE TABLE parsed AS {sql}")
    except duckdb.Error:
        if failure:
            raise failure[0] from None
        raise
    con.unregister("source_batches")

    rows_read = scalar(con, "SELECT count(*) FROM parsed")
    if rows_read == 0:
        raise EmptyDataError(f"{src.name} holds no data rows")
    fields = [f for f in REASONS if f"bad_{f}" in _columns(con)]
    counts, problems = _problems(con, fields, ParseError.max_listed)
    any_bad = " OR ".join(f"bad_{f}" for f in fields)
    rejected = scalar(con, f"SELECT count(*) FROM parsed WHERE {any_bad}")
    if rejected and not skip_invalid:
        raise ParseError(counts, problems)
    if rejected:
        _set_rejects_aside(con, fields)

    excluded = scalar(con, "SELECT count(*) FROM parsed WHERE excluded")
    con.execute("DELETE FROM parsed WHERE excluded")
    if excluded + rejected == rows_read:
        raise EmptyDataError(
            f"{src.name}: none of the {rows_read} rows could be loaded "
            f"({rejected} rejected, {excluded} excluded by status)"
        )
    currencies = dict(
        con.execute("SELECT currency, count(*) FROM parsed GROUP BY 1 ORDER BY 2 DESC").fetchall()
    )
    converted = _convert(con, currencies, options["rates"], options["base_currency"])

    conflicts = _collapse_duplicates(con)
    loaded = scalar(con, "SELECT count(*) FROM parsed")
    refunds = scalar(con, "SELECT count(*) FROM parsed WHERE is_refund")

    written: Path | None = None
    if rejected:
        if rejects_path is not None:
            written = Path(rejects_path)
        elif isinstance(source, str | Path):
            written = Path(source).with_name(Path(source).name + ".rejects.csv")
        if written is not None:
            _write_rejects(con, written)

    report = LoadReport(
        source=src.name,
        rows_read=rows_read,
        rows_loaded=loaded,
        orders=loaded - refunds,
        refunds=refunds,
        duplicates_removed=rows_read - rejected - excluded - loaded,
        conflicting_duplicates=conflicts,
        rejected=rejected,
        rejects_path=None if written is None else str(written),
        excluded_by_status=excluded,
        currencies={str(k): int(v) for k, v in currencies.items()},
        converted_to=converted,
    )
    metadata = dict(s.TRANSACTIONS_SCHEMA.metadata or {})
    metadata[_REPORT_KEY] = json.dumps(asdict(report)).encode()
    names = ", ".join(f.name for f in s.TRANSACTIONS_SCHEMA)
    # rows were inserted in source order and a scan keeps it: no sort of the whole table;
    # streamed out batch by batch: a whole-result fetch would hold a second copy in DuckDB
    reader = con.sql(f"SELECT {names} FROM parsed").to_arrow_reader(1 << 20)
    target = s.TRANSACTIONS_SCHEMA.with_metadata(metadata)
    emit(pa.Table.from_batches([b], schema=reader.schema).cast(target) for b in reader)
    return report
