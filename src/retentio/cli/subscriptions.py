"""`retentio subscriptions configure|renew|report`: the subscription policy, the renewal run (the
worker's job too), and the report."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import getpass
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from retentio.bootstrap import Settings
from retentio.cli.app import app, out
from retentio.cli.db import DatabaseUrl, store_session
from retentio.cli.segments import load_definition_file
from retentio.cli.subscription_report_text import print_subscription_report
from retentio.core.errors import ConfigurationError
from retentio.subscriptions import configure_policy, current_policy, parse_policy
from retentio.subscriptions.jobs import run_subscription_jobs
from retentio.subscriptions.records import major
from retentio.subscriptions.report import REPORT_COHORTS, REPORT_DAYS, subscription_report_of

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
    pauses, tell journeys of pauses ending soon, and ask for the payment retries due; with
    RETENTIO_PAYMENT_WEBHOOK_URL, ask the shop's payment integration to charge the orders
    waiting for payment."""
    now = _instant(at)
    adapter = Settings().payment_adapter()
    try:
        with store_session(database_url) as session:
            current_policy(session)  # a broken stored policy fails here, before anything runs
            run = run_subscription_jobs(session, now=now, adapter=adapter)
    finally:
        if adapter is not None:
            adapter.close()
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
    if run.charges is not None:
        charges = run.charges
        failed = (
            f"; {charges.failed:,} request(s) failed, asked again next run: {charges.last_error}"
            if charges.failed
            else ""
        )
        if charges.unfinished:
            failed += " (stopped early: the receiver is down)"
        out.print(
            f"Asked the payment provider to charge {charges.requested:,} order(s){failed}",
            highlight=False,
        )


@subscriptions_app.command("report")
def report_command(
    database_url: DatabaseUrl = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The UTC day (YYYY-MM-DD) the report is of [default: today]."),
    ] = None,
    days: Annotated[
        int, typer.Option(min=1, help="Days up to --as-of counted for churn, pauses and offers.")
    ] = REPORT_DAYS,
    cohorts: Annotated[
        int, typer.Option(min=0, help="The newest start-month cohorts shown.")
    ] = REPORT_COHORTS,
    as_json: AsJson = False,
) -> None:
    """Subscriptions live (active, paused, past due), MRR and ARR; churn split voluntary and
    involuntary, pause and pause -> resume rates, save-offer acceptance and orders over the
    days up to --as-of; survival of the start-month cohorts and their sBG projection."""
    try:
        day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError:
        raise ConfigurationError(f"--as-of: not a date (YYYY-MM-DD): {as_of!r}") from None
    with store_session(database_url) as session:
        engine = session.get_bind()
        if not isinstance(engine, Engine):  # pragma: no cover - a store session binds an engine
            raise TypeError("the store session is not bound to an engine")
        report = subscription_report_of(engine, as_of=day, days=days, cohorts=cohorts)
    if as_json:
        out.print_json(json.dumps(report))
        return
    print_subscription_report(report, out)
