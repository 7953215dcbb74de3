"""The `retentio` command line: thin commands over retentio.analytics and retentio.reporting."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import json
import math
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from retentio import __version__
from retentio.analytics import (
    KPI_KEYS,
    cohort_matrix,
    cohort_table,
    kpi_trends,
    kpis,
    rfm,
    rfm_segments,
    summarize,
    trend_direction,
)
from retentio.cli.loading import LoadOptions, ObservationEnd, load_source, observation_end_of
from retentio.cli.shared import with_load_options
from retentio.core.csvsafe import write_csv

__all__ = [
    "InputFile",
    "OptionalInputFile",
    "app",
    "err",
    "json_ready",
    "load_input",
    "out",
]

app = typer.Typer(
    name="retentio",
    help="Measure, predict and act on customer retention.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

InputFile = Annotated[
    Path,
    typer.Argument(
        help="Orders file: CSV (.csv, .csv.gz, .tsv), Parquet or JSON lines.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
OptionalInputFile = Annotated[
    Path | None,
    typer.Argument(
        help="Orders file: CSV (.csv, .csv.gz, .tsv), Parquet or JSON lines; leave it out with "
        "--db.",
        exists=True,
        dir_okay=False,
        readable=True,
        show_default=False,
    ),
]
Period = Annotated[str, typer.Option(help="Period: D, W, M, Q or Y.")]

_RATES = {
    "repeat_purchase_rate",
    "churn_rate",
    "retention_rate",
    "returning_customer_revenue_share",
}
_MONEY = {"revenue", "average_order_value", "historical_clv"}
_DAYS = {"avg_days_between_purchases", "median_days_between_purchases"}


def _format(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key in _RATES:
        return f"{value:.1%}"
    if key in _MONEY:
        return f"{value:,.2f}"
    if key in _DAYS:
        return f"{value:,.1f} days"
    if key == "purchase_frequency":
        return f"{value:.2f} orders"
    return f"{value:,.0f}"


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinite float, in dicts and lists too, as None (not JSON)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load_input(
    file: Path | None, options: LoadOptions, observation_end: str | None
) -> tuple[Any, date]:
    """The transactions of the file (with a progress bar) or, with ``--db``, of the store, and
    the observation end to use."""
    table = load_source(file, options, err)
    return table, observation_end_of(table, observation_end)


@app.command("kpis")
@with_load_options
def kpis_command(
    file: OptionalInputFile = None,
    *,
    options: LoadOptions,
    observation_end: ObservationEnd = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the KPIs as JSON.")] = False,
    trend: Annotated[
        bool, typer.Option(help="Show whether each KPI is rising or falling (monthly).")
    ] = True,
) -> None:
    """Print the headline retention KPIs."""
    table, end = load_input(file, options, observation_end)
    figures = kpis(table, observation_end=end)
    if as_json:
        out.print_json(json.dumps(json_ready(figures)))
        return
    grid = Table(title=f"Retention KPIs up to {end}")
    grid.add_column("KPI")
    grid.add_column("value", justify="right")
    directions: dict[str, str] = {}
    if trend:
        grid.add_column("trend (monthly)")
        trends = kpi_trends(table, observation_end=end, period="M")
        complete = trends[trends["complete"]]
        directions = {k: trend_direction(complete[k]) for k in KPI_KEYS}
    for key in KPI_KEYS:
        row = [key.replace("_", " "), _format(key, figures[key])]
        if trend:
            row.append(directions[key])
        grid.add_row(*row)
    out.print(grid)


@app.command("cohorts")
@with_load_options
def cohorts_command(
    file: OptionalInputFile = None,
    *,
    options: LoadOptions,
    observation_end: ObservationEnd = None,
    period: Period = "M",
    value: Annotated[
        str,
        typer.Option(
            help="active_share, active_customers, revenue or cumulative_revenue_per_customer."
        ),
    ] = "active_share",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the long matrix to this CSV.")
    ] = None,
    periods: Annotated[
        int | None,
        typer.Option(
            help="Period columns to print [default: as many as the terminal fits].", min=1
        ),
    ] = None,
) -> None:
    """Print the acquisition-cohort retention matrix."""
    table, end = load_input(file, options, observation_end)
    matrix = cohort_matrix(table, observation_end=end, period=period)
    pivot = cohort_table(matrix, value)
    grid = Table(title=f"Cohorts by {period}: {value.replace('_', ' ')} (up to {end})")
    grid.add_column("cohort", no_wrap=True)
    grid.add_column("size", justify="right", no_wrap=True)
    numbers = [c for c in pivot.columns if c != "cohort_size"]
    width = 5 if value == "active_share" else 9
    fits = max(1, (out.width - 24) // (width + 3))
    numbers = numbers[: periods or fits]
    for number in numbers:
        grid.add_column(str(number), justify="right", no_wrap=True, min_width=width)
    for cohort, row in pivot.iterrows():
        cells = [
            ""
            if math.isnan(row[n])
            else (f"{row[n]:.0%}" if value == "active_share" else f"{row[n]:,.0f}")
            for n in numbers
        ]
        grid.add_row(str(cohort)[:10], f"{int(row['cohort_size']):,}", *cells)
    out.print(grid)
    if output is not None:
        write_csv(matrix, output)
        err.print(f"Wrote {len(matrix):,} rows to {output}")


@app.command("rfm")
@with_load_options
def rfm_command(
    file: OptionalInputFile = None,
    *,
    options: LoadOptions,
    observation_end: ObservationEnd = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Write every customer's scores and segment to this CSV."
        ),
    ] = None,
) -> None:
    """Print the RFM segments with their customers and revenue."""
    table, end = load_input(file, options, observation_end)
    segments = rfm_segments(table, observation_end=end)
    grid = Table(title=f"RFM segments (up to {end})")
    for name in ("segment", "customers", "share", "revenue", "revenue share"):
        grid.add_column(name, justify="left" if name == "segment" else "right")
    for row in segments.itertuples():
        grid.add_row(
            str(row.segment),
            f"{row.customers:,}",
            f"{row.share:.1%}",
            f"{row.revenue:,.2f}",
            _format("returning_customer_revenue_share", row.revenue_share),
        )
    out.print(grid)
    if output is not None:
        scores = rfm(table, observation_end=end)
        write_csv(scores, output)
        err.print(f"Wrote {len(scores):,} customers to {output}")


@app.command("summary")
@with_load_options
def summary_command(
    file: OptionalInputFile = None,
    *,
    options: LoadOptions,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV file to write.")],
    observation_end: ObservationEnd = None,
    freq: Annotated[str, typer.Option(help="Purchase period: D, W, M, Q or Y.")] = "D",
    time_unit: Annotated[
        str | None, typer.Option(help="Unit of recency and T with --freq D: D or W.")
    ] = None,
) -> None:
    """Write the per-customer BTYD summary (frequency, recency, T, monetary_value)."""
    table, end = load_input(file, options, observation_end)
    summary = summarize(table, observation_end=end, freq=freq, time_unit=time_unit)
    write_csv(summary, output)
    err.print(f"Wrote the summary of {len(summary):,} customers to {output}")


@app.command("report")
@with_load_options
def report_command(
    file: OptionalInputFile = None,
    *,
    options: LoadOptions,
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")] = Path(
        "report.html"
    ),
    observation_end: ObservationEnd = None,
    period: Period = "M",
    title: Annotated[str, typer.Option(help="Title of the report.")] = "Retention report",
) -> None:
    """Write a self-contained HTML retention report (opens without a network); with --db, it
    has a loyalty section when the store's loyalty programme has members."""
    from retentio.reporting import write_report

    table, end = load_input(file, options, observation_end)
    loyalty = None
    if options.db:
        from retentio.cli.db import store_session  # db registers commands on the app: import late
        from retentio.reporting.loyalty_section import loyalty_from_store

        with store_session(options.database_url) as session:
            loyalty = loyalty_from_store(session)
    written = write_report(
        table, output, observation_end=end, period=period, title=title, loyalty=loyalty
    )
    err.print(f"Wrote the report to {written}")


def version_callback(value: bool) -> None:
    if value:
        out.print(f"retentio {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Show the version."
        ),
    ] = None,
) -> None:
    """Measure, predict and act on customer retention."""
