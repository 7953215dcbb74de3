"""`retentio loyalty configure|balance|release|expire|run`: the programme and the members'
points (`backfill` lives in cli/loyalty_backfill.py)."""

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
from retentio.core.errors import ConfigurationError
from retentio.loyalty import balance_of, expire_points, parse_programme, release_due
from retentio.loyalty.jobs import run_loyalty_jobs
from retentio.loyalty.service import configure_programme, current_programme, member_history

__all__ = ["loyalty_app"]

loyalty_app = typer.Typer(
    help="Loyalty: the programme's configuration and the members' points.", no_args_is_help=True
)
app.add_typer(loyalty_app, name="loyalty")
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
At = Annotated[
    str | None,
    typer.Option(
        "--at", help="Run as of this time (ISO 8601 with offset) [default: now]; for catching up."
    ),
]


def _instant(given: str | None) -> datetime:
    if given is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(given)
    except ValueError:
        raise ConfigurationError(f"--at: not an ISO 8601 time: {given!r}") from None
    if at.tzinfo is None:
        raise ConfigurationError(f"--at: give the UTC offset, e.g. {given}+01:00")
    return at


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
    out.print(f"Saved programme version {version}: {programme.summary()}", highlight=False)


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
    """Make purchase points whose return window has ended available (also part of `run`)."""
    with store_session(database_url) as session:
        count = release_due(session, current_programme(session), now=datetime.now(UTC))
    out.print(f"Released the pending points of {count:,} order(s)")


@loyalty_app.command("expire")
def expire_command(
    database_url: DatabaseUrl = None,
    at: At = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Look at every member, not only those with lots due since the last run."
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Expire the points that are due (per lot, first in first out, or the balances of
    inactive members) and send the points_expiring reminders; safe to run again."""
    now = _instant(at)
    with store_session(database_url) as session:
        run = expire_points(session, current_programme(session), now=now, full=full)
    if as_json:
        out.print_json(json.dumps(run.to_dict()))
        return
    reminded = ", ".join(
        f"{n:,} at {d} days" for d, n in sorted(run.reminded.items(), reverse=True)
    )
    out.print(
        f"Expired {run.points:,} point(s) of {run.members:,} member(s); sent "
        f"{run.reminders:,} reminder(s)" + (f" ({reminded})" if reminded else ""),
        highlight=False,
    )


@loyalty_app.command("run")
def run_command(database_url: DatabaseUrl = None, at: At = None, as_json: AsJson = False) -> None:
    """The programme's round, as the worker runs it every RETENTIO_LOYALTY_JOBS_MINUTES:
    earn for the store's new orders, release pending points, birthday points, complete
    referrals, expire and remind, review tiers."""
    now = _instant(at)
    with store_session(database_url) as session:
        run = run_loyalty_jobs(session, now=now)
    if as_json:
        out.print_json(json.dumps(run.to_dict()))
        return
    if not run.ran:
        out.print("Nothing to do: no programme yet, or another worker is running the round")
        return
    expiry, orders = run.expiry, run.orders
    out.print(
        f"Earned for {orders.orders if orders else 0:,} new order(s) from the store; "
        f"released {run.released:,} order(s); birthday points for {run.birthdays:,} member(s); "
        f"completed {run.referrals_completed:,} "
        f"referral(s); expired {expiry.points if expiry else 0:,} point(s), sent "
        f"{expiry.reminders if expiry else 0:,} reminder(s); moved {run.tiers_moved_down:,} "
        "member(s) down a tier",
        highlight=False,
    )
