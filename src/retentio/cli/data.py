"""Commands that make or convert data files: `demo-data` and `load`."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from retentio.cli.app import InputFile, app, err
from retentio.cli.loading import LoadOptions, write_with_progress
from retentio.cli.shared import with_load_options
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
@with_load_options
def load_command(
    file: InputFile,
    options: LoadOptions,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Parquet file for the normalised table.")
    ],
) -> None:
    """Validate and normalise an orders file into a Parquet file the metrics read directly.

    The rows stream to the file: a file larger than memory loads too.
    """
    report = write_with_progress(file, output, options, err)
    err.print(f"Wrote {report.rows_loaded:,} rows to {output}")
