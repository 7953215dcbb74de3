"""The SQL that parses, validates and normalises raw columns inside DuckDB.

Identifiers go through :func:`quote`, values through :func:`literal`; nothing else from the input
is pasted into SQL.
"""

from __future__ import annotations

from collections.abc import Collection

import pyarrow as pa

from retentio.analytics.sources import ROW, Source
from retentio.core.errors import SchemaError

__all__ = ["REASONS", "literal", "parse_sql", "quote"]


def quote(name: str) -> str:
    """A DuckDB identifier: double-quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A DuckDB string literal: single-quoted, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _id_expr(col: str) -> str:
    return f"NULLIF(trim(CAST({quote(col)} AS VARCHAR)), '')"


_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%z", "%Z", "%c", "%X", "%s", "%f", "%g")


def _calendar_day(expr: str) -> str:
    """A date without a time of day is that calendar day itself: midnight UTC, whatever tz is
    (read in a local zone, "2024-01-05" would become 2024-01-04 23:00 UTC, another day)."""
    return f"timezone('UTC', CAST({expr} AS TIMESTAMP))"


def _date_expr(col: str, kind: pa.DataType, date_format: str | None) -> str:
    q = quote(col)
    if pa.types.is_date(kind):
        return _calendar_day(q)
    if pa.types.is_timestamp(kind) and kind.tz is None:
        return f"CAST({q} AS TIMESTAMPTZ)"
    if pa.types.is_timestamp(kind):
        return q
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind):
        text = f"trim(CAST({q} AS VARCHAR))"
        if date_format is not None:
            parsed = f"try_strptime({text}, {literal(date_format)})"
            if not any(d in date_format for d in _TIME_DIRECTIVES):
                return _calendar_day(parsed)
            return f"CAST({parsed} AS TIMESTAMPTZ)"
        if pa.types.is_integer(kind):
            raise SchemaError(
                f"column {col!r} holds integers; pass date_format (e.g. '%Y%m%d') to read them "
                "as dates"
            )
        # DuckDB wants seconds before an offset: "10:00+02:00" / "10:00Z" get ":00" added
        with_seconds = (
            f"regexp_replace({text}, '^(\\d{{4}}-\\d{{2}}-\\d{{2}}[ T]\\d{{2}}:\\d{{2}})"
            f"([zZ]|[+-]\\d{{2}}(:?\\d{{2}})?)$', '\\1:00\\2')"
        )
        plain = f"TRY_CAST({text} AS TIMESTAMPTZ)"
        day_only = f"regexp_full_match({text}, '\\d{{4}}-\\d{{2}}-\\d{{2}}')"
        return (
            f"CASE WHEN {day_only} THEN {_calendar_day(f'TRY_CAST({text} AS DATE)')} "
            f"ELSE coalesce({plain}, TRY_CAST({with_seconds} AS TIMESTAMPTZ)) END"
        )
    raise SchemaError(f"column {col!r} has type {kind}, which cannot be read as a date")


def _amount_expr(col: str, kind: pa.DataType, decimal: str) -> str:
    q = quote(col)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        value = f"CAST({q} AS DOUBLE)"
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = f"trim({q})"
        if decimal == ",":
            text = f"replace(replace({text}, '.', ''), ',', '.')"
        value = f"TRY_CAST({text} AS DOUBLE)"
    else:
        raise SchemaError(f"column {col!r} has type {kind}, which cannot be read as an amount")
    return f"CASE WHEN isfinite({value}) THEN {value} END"


def parse_sql(
    src: Source,
    cols: dict[str, str],
    *,
    currency: str,
    date_format: str | None,
    decimal: str,
    refund_statuses: Collection[str],
    excluded_statuses: Collection[str],
) -> str:
    kinds = {name: src.schema.field(name).type for name in src.columns}
    values = {
        "customer_id": _id_expr(cols["customer_id"]),
        "order_id": (
            _id_expr(cols["order_id"])
            if "order_id" in cols
            else f"{_id_expr(cols['customer_id'])} || '-' || CAST({ROW} AS VARCHAR)"
        ),
        "ordered_at": _date_expr(cols["ordered_at"], kinds[cols["ordered_at"]], date_format),
        "amount": _amount_expr(cols["amount"], kinds[cols["amount"]], decimal),
        "currency": (
            f"upper(trim(CAST({quote(cols['currency'])} AS VARCHAR)))"
            if "currency" in cols
            else literal(currency)
        ),
        "status": (
            f"NULLIF(lower(trim(CAST({quote(cols['status'])} AS VARCHAR))), '')"
            if "status" in cols
            else "CAST(NULL AS VARCHAR)"
        ),
    }
    raw = {f: f"CAST({quote(c)} AS VARCHAR)" for f, c in cols.items()}
    bad = {
        "customer_id": "v_customer_id IS NULL",
        "order_id": "v_order_id IS NULL",
        "ordered_at": "v_ordered_at IS NULL",
        "amount": "v_amount IS NULL",
        "currency": "NOT coalesce(regexp_full_match(v_currency, '[A-Z]{3}'), false)",
    }
    refunds = ", ".join(literal(x.lower()) for x in refund_statuses) or "NULL"
    excluded = ", ".join(literal(x.lower()) for x in excluded_statuses) or "NULL"
    inner = ", ".join(
        [ROW]
        + [f"{expr} AS v_{f}" for f, expr in values.items()]
        + [f"{expr} AS r_{f}" for f, expr in raw.items()]
    )
    checked = {f: cond for f, cond in bad.items() if f in cols or f == "order_id"}
    any_bad = " OR ".join(f"({cond})" for cond in checked.values())
    flags = [f"{cond} AS bad_{f}" for f, cond in checked.items()]
    # Raw text is kept only for rejected rows: it feeds the error message and the rejects file.
    raws = [f"CASE WHEN {any_bad} THEN r_{f} END AS r_{f}" for f in raw]
    return f"""
        SELECT {ROW},
            v_customer_id AS customer_id, v_order_id AS order_id, v_ordered_at AS ordered_at,
            CASE WHEN v_status IN ({refunds}) THEN -abs(v_amount) ELSE v_amount END AS amount,
            v_currency AS currency,
            (v_amount < 0 OR coalesce(v_status IN ({refunds}), false)) AS is_refund,
            v_status AS status,
            coalesce(v_status IN ({excluded}), false) AS excluded,
            {", ".join(flags + raws)}
        FROM (SELECT {inner} FROM source_batches)
    """


REASONS = {
    "customer_id": "empty",
    "order_id": "empty",
    "ordered_at": "not a date/time",
    "amount": "not a number",
    "currency": "not a 3-letter currency code",
}
