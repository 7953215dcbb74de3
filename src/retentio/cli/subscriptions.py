"""`retentio subscriptions configure|renew`: the subscription policy, and the renewal run (the
worker's job too)."""

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
from retentio.subscriptions import configure_policy, current_policy, parse_policy
from retentio.subscriptions.jobs import run_subscription_jobs
from retentio.subscriptions.records import major

__all__ = ["subscriptions_app"]

subscriptions_app = typer.Typer(
    help="Subscriptions: the policy, renewals and their report.", no_args_is_help=True
)
app.add_typer(subscriptions_app, name="subscriptions")
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
At = Annotated[
    str | None,
    typer.Option("--at", help="Run as of this time (ISO 8601 with offset) [default: now]."),
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


@subscriptions_app.command("configure")
def configure_command(
    file: Annotated[
        Path, typer.Argument(help="The policy (.yaml, .yml or .json).", exists=True, dir_okay=False)
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Check the subscription policy and save it as the next version, in force from now."""
    data = load_definition_file(file)
    policy = parse_policy(data)
    with store_session(database_url) as session:
        version = configure_policy(
            session, data, actor=f"cli:{getpass.getuser()}", now=datetime.now(UTC)
        )
    out.print(
        f"Saved policy version {version}: renewals at {policy.renewal_time:%H:%M}, "
        f"{len(policy.reasons)} cancellation reason(s), dunning after "
        f"{', '.join(str(d) for d in policy.dunning_days)} days",
        highlight=False,
    )


@subscriptions_app.command("renew")
def renew_command(database_url: DatabaseUrl = None, at: At = None, as_json: AsJson = False) -> None:
    """Make the renewal orders that are due (once per subscription and cycle), start and end
    pauses, tell journeys of pauses ending soon, and ask for the payment retries due."""
    now = _instant(at)
    with store_session(database_url) as session:
        current_policy(session)  # a broken stored policy fails here, before anything runs
        run = run_subscription_jobs(session, now=now)
    if as_json:
        out.print_json(json.dumps(run.to_dict()))
        return
    renewal = run.renewals
    amounts = ", ".join(f"{major(minor, cur)} {cur}" for cur, minor in renewal.amounts.items())
    out.print(
        f"Made {renewal.orders:,} renewal order(s)"
        + (f" ({amounts})" if amounts else "")
        + f"; skipped {renewal.skipped:,}, expired {renewal.expired:,}; paused "
        f"{renewal.paused:,}, resumed {renewal.resumed:,}, {renewal.reminders:,} pause(s) "
        f"ending soon; {run.retries:,} payment retr(y/ies) due",
        highlight=False,
    )
