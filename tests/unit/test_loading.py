"""Unit tests of retentio.load_transactions: formats, validation, normalisation, the report."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import retentio
from retentio import TRANSACTIONS_SCHEMA, load_report, load_transactions, write_transactions
from retentio.core.errors import (
    ConfigurationError,
    CurrencyError,
    DataError,
    EmptyDataError,
    ParseError,
    SchemaError,
)

HEADER = "customer_id,order_id,ordered_at,amount\n"
ROWS = [
    ("c1", "o1", "2024-01-05 10:00:00", "100.00"),
    ("c2", "o2", "2024-01-10 12:30:00", "200.50"),
    ("c1", "o3", "2024-02-01 09:15:00", "30.25"),
    ("c3", "o4", "2024-03-01 00:00:00", "70"),
]

# The normalised table every input form of ROWS must give, written out by hand.
EXPECTED = [
    {
        "customer_id": "c1",
        "order_id": "o1",
        "ordered_at": datetime(2024, 1, 5, 10, 0, tzinfo=UTC),
        "amount": 100.0,
        "currency": "EUR",
        "is_refund": False,
        "status": None,
    },
    {
        "customer_id": "c2",
        "order_id": "o2",
        "ordered_at": datetime(2024, 1, 10, 12, 30, tzinfo=UTC),
        "amount": 200.5,
        "currency": "EUR",
        "is_refund": False,
        "status": None,
    },
    {
        "customer_id": "c1",
        "order_id": "o3",
        "ordered_at": datetime(2024, 2, 1, 9, 15, tzinfo=UTC),
        "amount": 30.25,
        "currency": "EUR",
        "is_refund": False,
        "status": None,
    },
    {
        "customer_id": "c3",
        "order_id": "o4",
        "ordered_at": datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
        "amount": 70.0,
        "currency": "EUR",
        "is_refund": False,
        "status": None,
    },
]


def write_csv(path: Path, rows: list[tuple[str, ...]], header: str = HEADER) -> Path:
    path.write_text(header + "".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


def as_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in ROWS],
            "order_id": [r[1] for r in ROWS],
            "ordered_at": pd.to_datetime([r[2] for r in ROWS]),  # naive datetime64
            "amount": [float(r[3]) for r in ROWS],
        }
    )


def _csv(tmp_path: Path) -> object:
    return write_csv(tmp_path / "orders.csv", ROWS)


def _csv_str_path(tmp_path: Path) -> object:
    return str(write_csv(tmp_path / "orders.csv", ROWS))


def _csv_gz(tmp_path: Path) -> object:
    path = tmp_path / "orders.csv.gz"
    text = HEADER + "".join(",".join(row) + "\n" for row in ROWS)
    path.write_bytes(gzip.compress(text.encode()))
    return path


def _parquet(tmp_path: Path) -> object:
    path = tmp_path / "orders.parquet"
    pq.write_table(pa.Table.from_pandas(as_frame(), preserve_index=False), path)
    return path


def _jsonl(tmp_path: Path) -> object:
    path = tmp_path / "orders.jsonl"
    lines = [
        json.dumps({"customer_id": c, "order_id": o, "ordered_at": d, "amount": float(a)})
        for c, o, d, a in ROWS
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pandas(tmp_path: Path) -> object:
    return as_frame()


def _pandas_text(tmp_path: Path) -> object:
    return pd.DataFrame(ROWS, columns=["customer_id", "order_id", "ordered_at", "amount"])


def _polars(tmp_path: Path) -> object:
    return pl.from_pandas(as_frame())


def _arrow_aware(tmp_path: Path) -> object:
    # already aware UTC timestamps: kept as they are
    table = pa.Table.from_pandas(as_frame(), preserve_index=False)
    return table.set_column(2, "ordered_at", table["ordered_at"].cast(pa.timestamp("us", tz="UTC")))


def _arrow_batch(tmp_path: Path) -> object:
    return pa.RecordBatch.from_pandas(as_frame(), preserve_index=False)


SOURCES = {
    "csv": _csv,
    "csv-str-path": _csv_str_path,
    "csv.gz": _csv_gz,
    "parquet": _parquet,
    "jsonl": _jsonl,
    "pandas": _pandas,
    "pandas-text": _pandas_text,
    "polars": _polars,
    "pyarrow-aware": _arrow_aware,
    "pyarrow-batch": _arrow_batch,
}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_every_input_form_gives_the_same_normalised_table(kind: str, tmp_path: Path) -> None:
    table = load_transactions(SOURCES[kind](tmp_path), currency="EUR")
    assert table.schema.equals(TRANSACTIONS_SCHEMA, check_metadata=False)
    assert table.to_pylist() == EXPECTED
    metadata = table.schema.metadata
    assert metadata[b"retentio.table"] == b"transactions"
    report = load_report(table)
    assert report is not None
    assert report.rows_read == 4
    assert report.rows_loaded == 4
    assert report.orders == 4
    assert report.refunds == 0
    assert report.duplicates_removed == 0
    assert report.rejected == 0
    assert report.rejects_path is None
    assert report.currencies == {"EUR": 4}


def test_default_currency_is_unspecified(tmp_path: Path) -> None:
    table = load_transactions(write_csv(tmp_path / "o.csv", ROWS))
    assert set(table["currency"].to_pylist()) == {"XXX"}  # ISO 4217 "no currency"


def test_load_report_of_a_foreign_table_is_none() -> None:
    assert load_report(pa.table({"x": [1]})) is None
    assert retentio.load_report is load_report


def test_mapped_column_names(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "shop.csv", ROWS, header="Kunde,Ordre,Dato,Beløb\n")
    table = load_transactions(
        path,
        customer_col="Kunde",
        order_col="Ordre",
        date_col="Dato",
        amount_col="Beløb",
        currency="EUR",
    )
    assert table.to_pylist() == EXPECTED


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    text = HEADER + "".join(",".join(row) + "\n" for row in ROWS)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_transactions(path, currency="EUR").to_pylist() == EXPECTED


# --- schema and parse errors -----------------------------------------------------------------


def test_missing_column_lists_the_available_ones(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", ROWS, header="customer,order_id,ordered_at,amount\n")
    with pytest.raises(SchemaError) as info:
        load_transactions(path)
    message = str(info.value)
    assert "'customer_id' (for customer_id)" in message
    assert "available columns: 'customer', 'order_id', 'ordered_at', 'amount'" in message


def test_missing_mapped_column_in_a_dataframe() -> None:
    frame = as_frame().drop(columns=["amount"])
    with pytest.raises(SchemaError, match="'amount'.*available columns: 'customer_id'"):
        load_transactions(frame)


def _rows_with_25_problems() -> list[tuple[str, ...]]:
    """40 data rows; rows 6..30 are bad: even rows an unparseable date, odd rows an amount."""
    rows = []
    for row in range(1, 41):
        date, amount = f"2024-01-{1 + row % 28:02d}", "10.00"
        if 6 <= row <= 30:
            if row % 2 == 0:
                date = f"not-a-date-{row}"
            else:
                amount = f"ten{row}"
        rows.append((f"c{row % 7}", f"o{row}", date, amount))
    return rows


def test_parse_error_counts_all_and_lists_the_first_twenty_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", _rows_with_25_problems())
    with pytest.raises(ParseError) as info:
        load_transactions(path)
    error = info.value
    # bad dates on the even rows 6, 8, ..., 30: (30 - 6) / 2 + 1 = 13;
    # bad amounts on the odd rows 7, 9, ..., 29: (29 - 7) / 2 + 1 = 12; 13 + 12 = 25
    assert error.count == 25
    assert error.counts == {"ordered_at": 13, "amount": 12}
    # the first 20 problems in row order are rows 6..25 (1-based data rows, header excluded)
    assert [p.row for p in error.problems] == list(range(6, 26))
    assert [p.field for p in error.problems[:2]] == ["ordered_at", "amount"]
    assert error.problems[0].value == "not-a-date-6"
    assert error.problems[1].value == "ten7"
    message = str(error)
    assert "25 problem(s)" in message
    assert "13 with an unparseable ordered_at" in message
    assert "12 with an unparseable amount" in message
    assert "row 6 ordered_at='not-a-date-6'" in message
    assert "row 25 amount='ten25'" in message
    assert "row 26 " not in message
    assert "row 5 " not in message
    # nothing half-loaded: no rejects file beside the source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]


def test_first_data_row_is_row_one(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", [("c1", "o1", "2024-01-01", "x"), *ROWS])
    with pytest.raises(ParseError) as info:
        load_transactions(path)
    assert [(p.row, p.field, p.value) for p in info.value.problems] == [(1, "amount", "x")]


def test_parse_error_from_a_dataframe_names_rows_too() -> None:
    frame = _pandas_text(Path())
    frame.loc[2, "ordered_at"] = "31/02/2024"  # third data row
    with pytest.raises(ParseError) as info:
        load_transactions(frame)
    assert [p.row for p in info.value.problems] == [3]


def test_no_rejects_file_when_the_load_raises_even_with_a_rejects_path(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", _rows_with_25_problems())
    rejects = tmp_path / "out" / "rejects.csv"
    with pytest.raises(ParseError):
        load_transactions(path, rejects_path=rejects)
    assert not rejects.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv"]


def test_skip_invalid_writes_rejects_beside_the_source(tmp_path: Path) -> None:
    rows = _rows_with_25_problems()
    rows[0] = ("c1", "o1", "garbage", "also garbage")  # row 1: both fields bad
    path = write_csv(tmp_path / "orders.csv", rows)
    table = load_transactions(path, skip_invalid=True)

    # rows 1 and 6..30 rejected: 1 + 25 = 26; 40 - 26 = 14 loaded
    good = [r for i, r in enumerate(rows, start=1) if not (i == 1 or 6 <= i <= 30)]
    assert table.num_rows == 14
    assert table["order_id"].to_pylist() == [r[1] for r in good]
    report = load_report(table)
    assert report is not None
    assert report.rows_read == 40
    assert report.rejected == 26
    assert report.rows_loaded == 14
    rejects = tmp_path / "orders.csv.rejects.csv"
    assert report.rejects_path == str(rejects)

    with rejects.open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [int(r["row"]) for r in written] == [1, *range(6, 31)]
    by_row = {int(r["row"]): r for r in written}
    assert by_row[1]["reason"] == "ordered_at: not a date/time; amount: not a number"
    assert by_row[1]["ordered_at"] == "garbage"
    assert by_row[1]["amount"] == "also garbage"
    assert by_row[6]["reason"] == "ordered_at: not a date/time"
    assert by_row[6]["ordered_at"] == "not-a-date-6"
    assert by_row[7]["reason"] == "amount: not a number"
    assert by_row[7]["amount"] == "ten7"
    assert by_row[7]["customer_id"] == "c0"  # 7 % 7
    assert by_row[7]["order_id"] == "o7"
    # the temporary file was renamed, nothing else left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.csv", "orders.csv.rejects.csv"]


def test_skip_invalid_in_memory_writes_rejects_only_when_asked(tmp_path: Path) -> None:
    frame = _pandas_text(tmp_path)
    frame.loc[1, "amount"] = "n/a"
    table = load_transactions(frame, skip_invalid=True)
    assert table["order_id"].to_pylist() == ["o1", "o3", "o4"]
    report = load_report(table)
    assert report is not None
    assert (report.rejected, report.rejects_path) == (1, None)
    assert list(tmp_path.iterdir()) == []

    target = tmp_path / "rejects" / "bad.csv"
    load_transactions(frame, skip_invalid=True, rejects_path=target)
    with target.open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [(r["row"], r["order_id"], r["amount"]) for r in written] == [("2", "o2", "n/a")]


def test_empty_customer_and_order_ids_are_rejected(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "o.csv", [*ROWS, ("  ", "o9", "2024-01-01", "1"), ("c9", "", "2024-01-01", "1")]
    )
    with pytest.raises(ParseError) as info:
        load_transactions(path)
    assert info.value.counts == {"customer_id": 1, "order_id": 1}
    assert [(p.row, p.field) for p in info.value.problems] == [(5, "customer_id"), (6, "order_id")]


def test_a_malformed_row_deep_in_a_large_file_is_a_data_error(tmp_path: Path) -> None:
    rows = [(f"c{i}", f"o{i}", "2024-01-01", "5") for i in range(4_000)]  # about 100 KB
    path = write_csv(tmp_path / "o.csv", rows)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("c1,o9999,2024-01-02\n")  # three fields, not four
    assert path.stat().st_size > 64 * 1024
    with pytest.raises(DataError, match="o.csv"):
        load_transactions(path)


# --- duplicates, refunds, statuses ----------------------------------------------------------


def test_duplicate_order_ids_are_collapsed_and_counted(tmp_path: Path) -> None:
    rows = [
        ("c1", "o1", "2024-01-05", "10"),
        ("c1", "o1", "2024-01-05", "10"),  # exact duplicate
        ("c2", "o2", "2024-01-06", "20"),
        ("c1", "o1", "2024-01-05", "10"),  # again
        ("c2", "o2", "2024-01-06", "25"),  # same id, another amount: a conflict
        ("c3", "o3", "2024-01-07", "30"),
    ]
    table = load_transactions(write_csv(tmp_path / "o.csv", rows))
    # the first row of each order id is kept, in source order
    assert table["order_id"].to_pylist() == ["o1", "o2", "o3"]
    assert table["amount"].to_pylist() == [10.0, 20.0, 30.0]
    report = load_report(table)
    assert report is not None
    assert report.rows_read == 6
    assert report.duplicates_removed == 3  # 6 rows read - 3 kept
    assert report.conflicting_duplicates == 1  # o2
    assert report.rows_loaded == 3


def test_refunds_by_negative_amount_and_by_status_and_excluded_statuses(tmp_path: Path) -> None:
    header = "customer_id,order_id,ordered_at,amount,status\n"
    rows = [
        ("c1", "o1", "2024-01-05", "100", "paid"),
        ("c1", "o1", "2024-01-09", "-40", "paid"),  # partial refund of o1 by a negative amount
        ("c2", "o2", "2024-01-06", "50", " Refunded "),  # status, any case and spacing
        ("c3", "o3", "2024-01-07", "20", "cancelled"),
        ("c3", "o4", "2024-01-08", "25", "CANCELED"),
        ("c4", "o5", "2024-01-08", "-5", ""),  # negative without a status
        ("c4", "o6", "2024-01-09", "15", "returned"),
        ("c5", "o7", "2024-01-10", "60", ""),
    ]
    table = load_transactions(write_csv(tmp_path / "o.csv", rows, header), status_col="status")
    got = [(r["order_id"], r["amount"], r["is_refund"], r["status"]) for r in table.to_pylist()]
    assert got == [
        ("o1", 100.0, False, "paid"),
        ("o1", -40.0, True, "paid"),
        ("o2", -50.0, True, "refunded"),
        ("o5", -5.0, True, None),
        ("o6", -15.0, True, "returned"),
        ("o7", 60.0, False, None),
    ]
    report = load_report(table)
    assert report is not None
    assert report.excluded_by_status == 2  # o3 and o4
    assert report.refunds == 4
    assert report.orders == 2
    assert report.duplicates_removed == 0  # o1 twice, but an order and its refund
    assert report.rows_read == 8


def test_custom_refund_and_excluded_statuses(tmp_path: Path) -> None:
    header = "customer_id,order_id,ordered_at,amount,status\n"
    rows = [
        ("c1", "o1", "2024-01-05", "100", "gutschrift"),
        ("c1", "o2", "2024-01-06", "100", "test"),
        ("c1", "o3", "2024-01-07", "100", "refunded"),
    ]
    table = load_transactions(
        write_csv(tmp_path / "o.csv", rows, header),
        status_col="status",
        refund_statuses=["Gutschrift"],
        excluded_statuses=["TEST"],
    )
    assert [(r["order_id"], r["amount"], r["is_refund"]) for r in table.to_pylist()] == [
        ("o1", -100.0, True),
        ("o3", 100.0, False),  # "refunded" is not a refund status here
    ]


# --- time zones, formats ---------------------------------------------------------------------


def test_naive_timestamps_are_read_in_the_given_time_zone(tmp_path: Path) -> None:
    rows = [
        ("c1", "o1", "2024-07-01 10:00", "1"),  # CEST, UTC+2 -> 08:00 UTC
        ("c1", "o2", "2024-01-15 10:00", "1"),  # CET, UTC+1 -> 09:00 UTC
        ("c1", "o3", "2024-07-01 10:00:00+02:00", "1"),  # explicit offset kept -> 08:00 UTC
        ("c1", "o4", "2024-07-01T10:00:00+05:00", "1"),  # explicit offset kept -> 05:00 UTC
        ("c1", "o5", "2024-07-01T10:00:00Z", "1"),  # UTC -> 10:00 UTC
        ("c1", "o6", "2024-01-01", "1"),  # a date alone is that calendar day: midnight UTC
    ]
    table = load_transactions(write_csv(tmp_path / "o.csv", rows), tz="Europe/Copenhagen")
    assert table["ordered_at"].to_pylist() == [
        datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        datetime(2024, 1, 15, 9, 0, tzinfo=UTC),
        datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        datetime(2024, 7, 1, 5, 0, tzinfo=UTC),
        datetime(2024, 7, 1, 10, 0, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
    ]


def test_offsets_on_minute_precision_times_are_kept(tmp_path: Path) -> None:
    rows = [
        ("c1", "o1", "2024-07-01 10:00+02:00", "1"),  # -> 08:00 UTC
        ("c1", "o2", "2024-07-01T10:00Z", "1"),  # -> 10:00 UTC
    ]
    table = load_transactions(write_csv(tmp_path / "o.csv", rows), tz="Europe/Copenhagen")
    assert table["ordered_at"].to_pylist() == [
        datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        datetime(2024, 7, 1, 10, 0, tzinfo=UTC),
    ]


def test_naive_datetimes_in_a_dataframe_use_the_time_zone() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c1"],
            "order_id": ["o1", "o2"],
            "ordered_at": pd.to_datetime(["2024-07-01 10:00", "2024-01-15 10:00"]),
            "amount": [1.0, 2.0],
        }
    )
    table = load_transactions(frame, tz="Europe/Copenhagen")
    assert table["ordered_at"].to_pylist() == [
        datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
        datetime(2024, 1, 15, 9, 0, tzinfo=UTC),
    ]
    aware = frame.assign(ordered_at=frame["ordered_at"].dt.tz_localize("America/New_York"))
    # aware values keep their zone whatever tz says: 10:00 EDT = 14:00 UTC, 10:00 EST = 15:00 UTC
    table = load_transactions(aware, tz="Europe/Copenhagen")
    assert table["ordered_at"].to_pylist() == [
        datetime(2024, 7, 1, 14, 0, tzinfo=UTC),
        datetime(2024, 1, 15, 15, 0, tzinfo=UTC),
    ]


def test_unknown_time_zone_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Mars/Olympus_Mons"):
        load_transactions(write_csv(tmp_path / "o.csv", ROWS), tz="Mars/Olympus_Mons")


def test_date_format(tmp_path: Path) -> None:
    rows = [("c1", "o1", "20240105", "1"), ("c2", "o2", "19991231", "2")]
    table = load_transactions(write_csv(tmp_path / "o.csv", rows), date_format="%Y%m%d")
    assert table["ordered_at"].to_pylist() == [
        datetime(2024, 1, 5, tzinfo=UTC),
        datetime(1999, 12, 31, tzinfo=UTC),
    ]
    # without the format, 20240105 is not an ISO date
    with pytest.raises(ParseError) as info:
        load_transactions(write_csv(tmp_path / "o.csv", rows))
    assert info.value.counts == {"ordered_at": 2}


def test_date_format_on_integer_dates() -> None:
    frame = pd.DataFrame(
        {"customer_id": ["c1"], "order_id": ["o1"], "ordered_at": [20240105], "amount": [1.0]}
    )
    table = load_transactions(frame, date_format="%Y%m%d")
    assert table["ordered_at"].to_pylist() == [datetime(2024, 1, 5, tzinfo=UTC)]
    with pytest.raises(SchemaError, match="date_format"):
        load_transactions(frame)


def test_decimal_comma(tmp_path: Path) -> None:
    rows = [
        ("c1", "o1", "2024-01-05", "12,50"),
        ("c1", "o2", "2024-01-06", "1.234,50"),  # '.' is the thousands separator
        ("c1", "o3", "2024-01-07", "-3,05"),
        ("c1", "o4", "2024-01-08", "7"),
    ]
    path = tmp_path / "o.csv"
    path.write_text(
        "customer_id;order_id;ordered_at;amount\n" + "".join(";".join(r) + "\n" for r in rows),
        encoding="utf-8",
    )
    table = load_transactions(path, decimal=",", delimiter=";")
    assert table["amount"].to_pylist() == [12.5, 1234.5, -3.05, 7.0]
    with pytest.raises(ConfigurationError):
        load_transactions(path, decimal="'", delimiter=";")


def test_non_finite_amounts_are_rejected(tmp_path: Path) -> None:
    rows = [*ROWS, ("c1", "o8", "2024-01-01", "inf"), ("c1", "o9", "2024-01-01", "NaN")]
    with pytest.raises(ParseError) as info:
        load_transactions(write_csv(tmp_path / "o.csv", rows))
    assert [p.row for p in info.value.problems] == [5, 6]


# --- currencies ------------------------------------------------------------------------------

CURRENCY_HEADER = "customer_id,order_id,ordered_at,amount,currency\n"
CURRENCY_ROWS = [
    ("c1", "o1", "2024-01-05", "100.00", "DKK"),
    ("c2", "o2", "2024-01-06", "10.00", "EUR"),
    ("c3", "o3", "2024-01-07", "7.45", "dkk"),
]


def test_mixed_currencies_need_rates(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", CURRENCY_ROWS, CURRENCY_HEADER)
    with pytest.raises(CurrencyError, match=r"DKK \(2 rows\), EUR \(1 rows\)"):
        load_transactions(path, currency_col="currency")


def test_rates_convert_into_the_base_currency(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", CURRENCY_ROWS, CURRENCY_HEADER)
    table = load_transactions(
        path, currency_col="currency", rates={"DKK": 0.134}, base_currency="EUR"
    )
    # 100.00 DKK * 0.134 = 13.40 EUR; 7.45 DKK * 0.134 = 0.9983 -> 1.00 EUR (cents)
    assert table["amount"].to_pylist() == [13.4, 10.0, 1.0]
    assert set(table["currency"].to_pylist()) == {"EUR"}
    report = load_report(table)
    assert report is not None
    assert report.converted_to == "EUR"
    assert report.currencies == {"DKK": 2, "EUR": 1}


def test_a_currency_without_a_rate(tmp_path: Path) -> None:
    rows = [*CURRENCY_ROWS, ("c4", "o4", "2024-01-08", "1", "SEK")]
    path = write_csv(tmp_path / "o.csv", rows, CURRENCY_HEADER)
    with pytest.raises(CurrencyError, match="SEK"):
        load_transactions(path, currency_col="currency", rates={"DKK": 0.134}, base_currency="EUR")


def test_bad_currency_codes_are_rejected(tmp_path: Path) -> None:
    rows = [("c1", "o1", "2024-01-05", "1", "EURO"), ("c1", "o2", "2024-01-05", "1", "EUR")]
    with pytest.raises(ParseError) as info:
        load_transactions(
            write_csv(tmp_path / "o.csv", rows, CURRENCY_HEADER), currency_col="currency"
        )
    assert info.value.counts == {"currency": 1}
    with pytest.raises(ConfigurationError):
        load_transactions(write_csv(tmp_path / "p.csv", ROWS), currency="EURO")


# --- empty inputs ----------------------------------------------------------------------------


def test_header_only_file_is_empty(tmp_path: Path) -> None:
    with pytest.raises(EmptyDataError):
        load_transactions(write_csv(tmp_path / "o.csv", []))


@pytest.mark.parametrize("name", ["o.csv", "o.csv.gz", "o.jsonl"])
def test_zero_byte_file_is_empty(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(EmptyDataError):
        load_transactions(path)


def test_empty_dataframe_is_empty() -> None:
    with pytest.raises(EmptyDataError):
        load_transactions(as_frame().iloc[0:0])


def test_all_rows_invalid_with_skip_invalid_is_empty(tmp_path: Path) -> None:
    rows = [("c1", "o1", "soon", "1"), ("c2", "o2", "2024-01-01", "lots")]
    with pytest.raises(EmptyDataError, match="2 rejected"):
        load_transactions(write_csv(tmp_path / "o.csv", rows), skip_invalid=True)


def test_all_rows_excluded_by_status_is_empty(tmp_path: Path) -> None:
    header = "customer_id,order_id,ordered_at,amount,status\n"
    rows = [("c1", "o1", "2024-01-05", "1", "pending")]
    with pytest.raises(EmptyDataError, match="1 excluded"):
        load_transactions(write_csv(tmp_path / "o.csv", rows, header), status_col="status")


# --- order numbering, progress, odd sources --------------------------------------------------


def test_without_an_order_column_rows_are_numbered(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "o.csv",
        [("c1", "2024-01-05", "1"), ("c2", "2024-01-06", "2"), ("c1", "2024-01-07", "3")],
        header="customer_id,ordered_at,amount\n",
    )
    table = load_transactions(path, order_col=None)
    # customer id, a dash, the 1-based data row number
    assert table["order_id"].to_pylist() == ["c1-1", "c2-2", "c1-3"]


def test_progress_reaches_the_total_for_a_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", ROWS)
    calls: list[tuple[int, int | None]] = []
    load_transactions(path, progress=lambda done, total: calls.append((done, total)))
    assert calls
    size = path.stat().st_size
    assert calls[-1] == (size, size)
    done = [d for d, _ in calls]
    assert done == sorted(done)


def test_progress_reaches_the_total_for_a_table() -> None:
    calls: list[tuple[int, int | None]] = []
    load_transactions(as_frame(), progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (4, 4)  # rows


def test_unknown_sources_and_formats(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such file"):
        load_transactions(tmp_path / "missing.csv")
    odd = tmp_path / "orders.xlsx"
    odd.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="format"):
        load_transactions(odd)
    with pytest.raises(ConfigurationError):
        load_transactions([1, 2, 3])
    # format= overrides the suffix
    text = write_csv(tmp_path / "orders.data", ROWS)
    assert load_transactions(text, format="csv", currency="EUR").to_pylist() == EXPECTED


def test_reserved_row_column_name() -> None:
    with pytest.raises(SchemaError, match="__row"):
        load_transactions(as_frame().assign(__row=1))


def test_a_date_without_time_stays_on_its_calendar_day(tmp_path: Path) -> None:
    # read in Copenhagen, midnight 2024-01-05 would be 2024-01-04 23:00 UTC: another UTC day
    rows = [("c1", "o1", "20240105", "1")]
    path = write_csv(tmp_path / "o.csv", rows)
    table = load_transactions(path, tz="Europe/Copenhagen", date_format="%Y%m%d")
    assert table["ordered_at"].to_pylist() == [datetime(2024, 1, 5, tzinfo=UTC)]


def test_several_partial_refunds_of_one_order_are_all_kept() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c1", "c1"],
            "order_id": ["o1", "o1", "o1", "o1"],
            "ordered_at": ["2024-02-01", "2024-02-03", "2024-02-05", "2024-02-05"],
            "amount": [50.0, -10.0, -5.0, -5.0],  # the last row re-sends the second refund
        }
    )
    table = load_transactions(frame)
    assert table["amount"].to_pylist() == [50.0, -10.0, -5.0]
    report = load_report(table)
    assert report is not None and report.duplicates_removed == 1


def test_write_transactions_streams_the_same_table_to_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2"],
            "order_id": ["o1", "o1", "o2"],  # o1 twice: collapsed in both paths
            "ordered_at": ["2024-02-01", "2024-02-01", "2024-02-03 10:00"],
            "amount": [50.0, 50.0, -5.0],
        }
    )
    out = tmp_path / "clean.parquet"
    report = write_transactions(frame, out)
    in_memory = load_transactions(frame)
    written = pq.read_table(out)
    assert written.equals(in_memory)
    assert report == load_report(written) == load_report(in_memory)
    assert report.rows_loaded == 2 and report.duplicates_removed == 1


def test_write_transactions_rejects_an_unknown_option_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "clean.parquet"
    with pytest.raises(ConfigurationError, match="customer_column"):
        write_transactions(pd.DataFrame({"x": [1]}), out, customer_column="x")
    with pytest.raises(SchemaError):
        write_transactions(pd.DataFrame({"x": [1]}), out)
    assert list(tmp_path.iterdir()) == []
