"""`retentio loyalty backfill FILE`: replay historical orders into the points ledger."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retentio.analytics.schema import TRANSACTIONS_SCHEMA
from retentio.cli.app import InputFile, err, out
from retentio.cli.db import DatabaseUrl, store_session
from retentio.cli.loading import LoadOptions, load_with_progress
from retentio.cli.loyalty import AsJson, loyalty_app
from retentio.cli.shared import with_file_options
from retentio.loyalty.backfill import BackfillResult, backfill_orders
from retentio.loyalty.backfill import Progress as Step
from retentio.loyalty.service import current_programme

__all__ = ["backfill_command", "read_orders", "summary"]

ACTOR = "cli:backfill"
_NORMALISED = [f.name for f in TRANSACTIONS_SCHEMA if f.name != "status"]


def read_orders(path: Path, options: LoadOptions, console: Console) -> pa.Table:
    """The orders of ``path``. A Parquet file in the normalised layout (``retentio load -o``
    writes it) is read as it is: it was checked when it was written, and the orders in other
    currencies than the programme's are left out rather than refused. Any other file goes
    through ``retentio load``'s reading and checks, with the column-mapping options."""
    if options == LoadOptions() and path.suffix.lower() in {".parquet", ".pq"}:
        schema = pq.read_schema(path)
        wanted = TRANSACTIONS_SCHEMA
        kinds = {n: schema.field(n).type for n in schema.names}
        if all(kinds.get(n) == wanted.field(n).type for n in _NORMALISED):
            columns = [f.name for f in wanted if f.name in kinds]
            with console.status(f"Reading {path.name}"):
                return pq.read_table(path, columns=columns)
    return load_with_progress(path, options, console)


@contextmanager
def _progress(console: Console) -> Iterator[Step]:
    """A progress bar on stderr, moved by the backfill's ``progress(step, done, total)``."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("Backfilling", total=None)

        def step(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        yield step


def summary(result: BackfillResult) -> str:
    """One paragraph: what was replayed, left out, and what the ledger holds from it."""
    r = result
    text = (
        f"Replayed {r.orders_replayed:,} of {r.orders_read:,} orders into the points ledger of "
        f"{r.members:,} members ({r.customers_created:,} customers created): "
        f"{r.points_available:,} points available and {r.points_pending:,} pending, "
        f"{r.refunds_reversed:,} refunded orders reversed, {r.points_expired:,} points expired, "
        f"{r.tiers_set:,} tiers set, in {r.seconds:.1f} s."
    )
    left_out = {"already in the ledger": r.orders_already_in_ledger, **r.skipped}
    shown = [f"{number:,} {why}" for why, number in left_out.items() if number]
    return text + (f" Left out: {'; '.join(shown)}." if shown else "")


@loyalty_app.command("backfill")
@with_file_options
def backfill_command(
    file: InputFile,
    *,
    options: LoadOptions,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Replay historical orders into the points ledger, as of now, in bulk.

    Each order earns its points at the programme's base rate, once (an order already in the
    ledger is skipped, so a second run changes nothing); refunds take theirs back; points
    past their lot's expiry expire; members get the tier their orders still hold. Missing
    customers are created. No events are written: journeys do not fire on history. One bad
    row writes nothing.
    """
    table = read_orders(file, options, err)
    with store_session(database_url) as session, _progress(err) as step:
        result = backfill_orders(
            session,
            current_programme(session),
            table,
            now=datetime.now(UTC),
            recorded_by=ACTOR,
            progress=step,
        )
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    out.print(summary(result), highlight=False)
