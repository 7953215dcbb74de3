"""Commands that make, convert or load data files: `demo-data` and `load`."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from retentio.cli.app import InputFile, app, err
from retentio.cli.ingesting import detect_kind, load_into_store
from retentio.cli.loading import STORE, LoadOptions, StoreUrl, write_with_progress
from retentio.cli.shared import with_file_options
from retentio.core.errors import ConfigurationError

__all__ = ["demo_data_command", "load_command"]


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: not a date: {value!r} (use YYYY-MM-DD)") from exc


@app.command("demo-data")
def demo_data_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Parquet file to write.")] = Path(
        "orders.parquet"
    ),
    customers: Annotated[int, typer.Option(help="Number of customers.", min=1)] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same shop.")] = 1,
    start: Annotated[str, typer.Option(help="First day of the shop's history.")] = "2023-01-01",
    end: Annotated[str, typer.Option(help="Last day of the shop's history.")] = "2026-06-30",
) -> None:
    """Generate a deterministic synthetic shop's orders (see docs/datasets.md)."""
    from retentio.datasets import write_shop

    with Progress(
        TextColumn("Generating customers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("generate", total=customers)
        stats = write_shop(
            output,
            customers,
            seed,
            start=_day(start, "--start"),
            end=_day(end, "--end"),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    err.print(
        f"Wrote {stats.orders:,} orders and {stats.refunds:,} refunds of "
        f"{stats.customers:,} customers to {stats.path}"
    )


@app.command("load")
@with_file_options
def load_command(
    file: InputFile,
    *,
    options: LoadOptions,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the normalised orders to this Parquet file instead of the store.",
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="orders, customers or events [default: told from the file's columns].",
            rich_help_panel=STORE,
        ),
    ] = None,
    database_url: StoreUrl = None,
) -> None:
    """Load a file into the store (orders, customers or events), or normalise orders to Parquet.

    Loading is idempotent (keyed by the shop's ids: a second load changes nothing) and all or
    nothing: one bad row writes nothing, unless --skip-invalid. With -o the orders stream to
    the Parquet file and the store is not touched.
    """
    if output is not None:
        if kind not in (None, "orders") or database_url is not None:
            raise ConfigurationError(
                "-o writes orders to a Parquet file: drop --kind/--database-url"
            )
        report = write_with_progress(file, output, options, err)
        err.print(f"Wrote {report.rows_loaded:,} rows to {output}")
        return
    if kind is None:
        kind = detect_kind(file, options)
        err.print(f"{file.name} holds {kind} (told from its columns; --kind says otherwise)")
    result = load_into_store(file, kind.lower(), options, database_url, err)
    err.print(
        f"Loaded {kind} from {file.name}: {result.created:,} created, {result.updated:,} "
        f"updated, {result.unchanged:,} unchanged"
        + (f", {result.failed:,} refused" if result.failed else "")
    )
