"""Turn a source (file path or in-memory table) into a stream of Arrow record batches.

Every batch carries a ``__row`` column: the 1-based data row number in the source, so errors can
name the rows a person would find in the file (header excluded). Progress is reported in bytes
for text files and rows for Parquet and in-memory tables.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from retentio.core.errors import ConfigurationError, DataError, SchemaError

__all__ = ["ROW", "Progress", "Source", "open_source"]

ROW = "__row"
BATCH_ROWS = 1 << 20
BLOCK_BYTES = 16 << 20

Progress = Callable[[int, int | None], None]
"""Called as ``progress(done, total)``; units are bytes (CSV, JSON lines) or rows."""

_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass(frozen=True)
class Source:
    """An opened source: its column names, Arrow types, and a one-shot batch iterator."""

    name: str
    schema: pa.Schema
    batches: Callable[[list[str]], Iterator[pa.RecordBatch]]

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


class _CountingReader(io.RawIOBase):
    """A binary file wrapper that reports how many bytes were read so far."""

    def __init__(self, raw: BinaryIO, total: int, progress: Progress | None) -> None:
        self._raw = raw
        self._total = total
        self._progress = progress
        self._done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self._done += n or 0
        if self._progress is not None:
            self._progress(self._done, self._total)
        return int(n or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _detect_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in {"csv", "parquet", "jsonl"}:
            raise ConfigurationError(f"format must be csv, parquet or jsonl, got {fmt!r}")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _FORMATS:
        return _FORMATS[suffixes[-1]]
    raise ConfigurationError(
        f"cannot tell the format of {path.name!r} from its name; pass format='csv', "
        "'parquet' or 'jsonl' (CLI: --format)"
    )


def _numbered(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    start = 1
    for batch in batches:
        if batch.num_rows == 0:
            continue
        rows = pa.array(range(start, start + batch.num_rows), type=pa.int64())
        start += batch.num_rows
        yield batch.append_column(ROW, rows)


def _text_stream(path: Path, progress: Progress | None) -> pa.NativeFile:
    raw = _CountingReader(path.open("rb"), path.stat().st_size, progress)
    stream = pa.PythonFile(io.BufferedReader(raw, BLOCK_BYTES), mode="r")
    compression = _COMPRESSION.get(path.suffix.lower())
    if compression is not None:
        return pa.CompressedInputStream(stream, compression)
    return stream


def _open_text(path: Path) -> TextIO:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    if suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _csv_header(path: Path, delimiter: str, parse: pacsv.ParseOptions) -> list[str]:
    """The header row, read with the csv module: no Arrow reader thread is left behind (one
    still running at exit aborts the process). zstd files, which it cannot open, use Arrow."""
    if path.suffix.lower() == ".zst":
        try:
            with _text_stream(path, None) as probe:
                options = pacsv.ReadOptions(block_size=1 << 16, use_threads=False)
                reader = pacsv.open_csv(probe, read_options=options, parse_options=parse)
                names: list[str] = reader.schema.names
                reader.close()
                return names
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return []
            raise DataError(f"{path.name}: not a readable CSV file: {exc}") from exc
    try:
        with _open_text(path) as text:
            return next(csv.reader(text, delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path.name}: not a readable CSV file: {exc}") from exc


def _csv_source(path: Path, delimiter: str | None, progress: Progress | None) -> Source:
    if delimiter is None:
        delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    parse = pacsv.ParseOptions(delimiter=delimiter)
    read = pacsv.ReadOptions(block_size=BLOCK_BYTES)
    header = _csv_header(path, delimiter, parse)
    schema = pa.schema([(name, pa.string()) for name in header])

    def batches(columns: list[str]) -> Iterator[pa.RecordBatch]:
        convert = pacsv.ConvertOptions(
            include_columns=columns,
            column_types={c: pa.string() for c in columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        with _text_stream(path, progress) as stream:
            try:
                reader = pacsv.open_csv(
                    stream, read_options=read, parse_options=parse, convert_options=convert
                )
                yield from _numbered(iter(reader))
            except pa.ArrowInvalid as exc:
                raise DataError(f"{path.name}: CSV cannot be parsed: {exc}") from exc

    return Source(path.name, schema, batches)


def _parquet_source(path: Path, progress: Progress | None) -> Source:
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path.name}: not a readable Parquet file: {exc}") from exc
    total = file.metadata.num_rows

    def batches(columns: list[str]) -> Iterator[pa.RecordBatch]:
        done = 0
        for batch in _numbered(file.iter_batches(batch_size=BATCH_ROWS, columns=columns)):
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
            yield batch

    return Source(path.name, file.schema_arrow, batches)


def _jsonl_source(path: Path, progress: Progress | None) -> Source:
    read = pajson.ReadOptions(block_size=BLOCK_BYTES)
    probe_read = pajson.ReadOptions(block_size=1 << 20, use_threads=False)
    try:
        with _text_stream(path, None) as probe:
            reader = pajson.open_json(probe, read_options=probe_read)
            schema = reader.schema
            reader.close()
    except pa.ArrowInvalid as exc:
        if "Empty JSON" in str(exc):
            return Source(path.name, pa.schema([]), lambda _: iter(()))
        raise DataError(f"{path.name}: not readable as JSON lines: {exc}") from exc

    def batches(columns: list[str]) -> Iterator[pa.RecordBatch]:
        with _text_stream(path, progress) as stream:
            try:
                reader = pajson.open_json(stream, read_options=read)
                yield from _numbered(batch.select(columns) for batch in reader)
            except pa.ArrowInvalid as exc:
                raise DataError(f"{path.name}: JSON lines cannot be parsed: {exc}") from exc

    return Source(path.name, schema, batches)


def _table_source(table: pa.Table, progress: Progress | None) -> Source:
    total = table.num_rows

    def batches(columns: list[str]) -> Iterator[pa.RecordBatch]:
        done = 0
        for batch in _numbered(iter(table.select(columns).to_batches(BATCH_ROWS))):
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
            yield batch

    return Source("<table>", table.schema, batches)


def _as_arrow(obj: object) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(obj, preserve_index=False)
    if module == "polars":
        converted: pa.Table = getattr(obj, "to_arrow")()  # noqa: B009 - polars has no stubs here
        return converted
    if hasattr(obj, "to_pyarrow"):  # an Ibis table expression
        return obj.to_pyarrow()
    if hasattr(obj, "__arrow_c_stream__"):
        return pa.table(obj)
    raise ConfigurationError(
        f"cannot read transactions from a {type(obj).__name__}: pass a path (CSV, Parquet, "
        "JSON lines) or a pandas / polars / pyarrow table"
    )


def open_source(
    source: object,
    *,
    fmt: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> Source:
    """Open ``source`` for streaming; nothing is read beyond the header yet."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise ConfigurationError(f"no such file: {path}")
        if path.is_dir():
            raise ConfigurationError(f"{path} is a directory; pass a file")
        kind = _detect_format(path, fmt)
        if kind == "csv":
            return _csv_source(path, delimiter, progress)
        if kind == "parquet":
            return _parquet_source(path, progress)
        return _jsonl_source(path, progress)
    table = _as_arrow(source)
    if ROW in table.column_names:
        raise SchemaError(f"the column name {ROW!r} is reserved")
    return _table_source(table, progress)
