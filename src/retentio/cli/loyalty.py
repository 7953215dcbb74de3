"""`retentio loyalty configure|balance|release`: the programme and the members' points
(backfill and expire follow)."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from retentio.cli.app import app, out
from retentio.cli.db import DatabaseUrl, store_session
from retentio.cli.segments import load_definition_file
from retentio.loyalty import balance_of, parse_programme, release_due
from retentio.loyalty.service import configure_programme, current_programme, member_history

__all__ = ["loyalty_app"]

loyalty_app = typer.Typer(
    help="Loyalty: the programme's configuration and the members' points.", no_args_is_help=True
)
app.add_typer(loyalty_app, name="loyalty")
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@loyalty_app.command("configure")
def configure_command(
    file: Annotated[
        Path,
        typer.Argument(help="The programme (.yaml, .yml or .json).", exists=True, dir_okay=False),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Check the programme and save it as the next version, in force from now."""
    data = load_definition_file(file)
    programme = parse_programme(data)
    with store_session(database_url) as session:
        version = configure_programme(session, data, actor=f"cli:{getpass.getuser()}")
    out.print(
        f"Saved programme version {version}: {programme.points_per_unit} point(s) per "
        f"{programme.currency}, pending {programme.pending_days} days",
        highlight=False,
    )


@loyalty_app.command("balance")
def balance_command(
    customer: Annotated[str, typer.Argument(help="The customer's external id.")],
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """A member's available and pending points, and their latest entries."""
    with store_session(database_url) as session:
        balance = balance_of(session, customer)
        history = member_history(session, customer, limit=20)
    if as_json:
        out.print_json(json.dumps({**balance.to_dict(), "history": history}, default=str))
        return
    out.print(
        f"{customer}: {balance.available:,} available, {balance.pending:,} pending "
        f"({balance.earned:,} earned in all)",
        highlight=False,
    )
    for entry in history:
        change = entry["points"] or entry["pending_points"]
        where = "pending" if entry["pending_points"] and not entry["points"] else "available"
        out.print(
            f"  {entry['occurred_at']:%Y-%m-%d} {entry['kind']:8} {change:+,} {where}"
            + (f"  {entry['note']}" if entry["note"] else ""),
            highlight=False,
        )


@loyalty_app.command("release")
def release_command(database_url: DatabaseUrl = None) -> None:
    """Make purchase points whose return window has ended available (the worker's job too,
    once scheduled jobs run there)."""
    with store_session(database_url) as session:
        count = release_due(session, current_programme(session), now=datetime.now(UTC))
    out.print(f"Released the pending points of {count:,} order(s)")
