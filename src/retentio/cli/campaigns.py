"""`retentio campaign create|list|preview|test-send|launch|report` and `retentio worker`."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import importlib.util
import json
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from retentio.bootstrap import Settings, build_worker
from retentio.campaigns import (
    CampaignDefinition,
    WorkerOptions,
    find_campaign,
    launch_campaign,
    list_campaigns,
    parse_campaign,
    save_campaign,
)
from retentio.campaigns.preview import preview_campaign, send_test_message, send_test_sms
from retentio.campaigns.report import CampaignReport, campaign_report
from retentio.cli.app import app, err, out
from retentio.cli.db import DatabaseUrl, store_session
from retentio.cli.lift_text import print_funnel, print_lift
from retentio.cli.segments import load_definition_file
from retentio.core.errors import ConfigurationError
from retentio.store import make_engine

__all__ = ["campaign_app", "worker_command"]

campaign_app = typer.Typer(
    help="Campaigns: a segment, a message, a channel and a schedule, with a control group.",
    no_args_is_help=True,
)
app.add_typer(campaign_app, name="campaign")

CampaignArg = Annotated[
    str,
    typer.Argument(
        help="A saved campaign's name, or a definition file (.yaml, .yml or .json).",
        show_default=False,
    ),
]
SavedArg = Annotated[str, typer.Argument(help="A saved campaign's name.", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
CustomerOpt = Annotated[
    str | None,
    typer.Option(help="Render for this customer (external id) [default: the first member]."),
]
LocaleOpt = Annotated[
    str | None, typer.Option(help="Render this locale [default: the customer's].")
]
_SUFFIXES = (".yaml", ".yml", ".json")


def _definition(session: Any, given: str) -> CampaignDefinition:
    path = Path(given)
    if path.suffix.lower() in _SUFFIXES:
        if not path.is_file():
            raise ConfigurationError(f"{given}: no such file")
        return parse_campaign(load_definition_file(path))
    return find_campaign(session, given).definition


@campaign_app.command("create")
def create_command(
    file: Annotated[
        Path,
        typer.Argument(help="The definition (.yaml, .yml or .json).", exists=True, dir_okay=False),
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a draft of the same name.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Save a campaign as a draft (it sends nothing until launched)."""
    with store_session(database_url) as session:
        saved = save_campaign(session, load_definition_file(file), replace=replace)
    d = saved.definition
    out.print(
        f"Saved campaign {d.name} (draft): {d.channel} {d.purpose} to segment {d.segment}, "
        f"{d.holdout:.0%} held out"
    )


@campaign_app.command("list")
def list_command(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """The campaigns, newest first."""
    with store_session(database_url) as session:
        campaigns = list_campaigns(session)
    if as_json:
        out.print_json(json.dumps([c.to_dict() for c in campaigns]))
        return
    table = Table(title="Campaigns")
    for name in ("id", "name", "status", "segment", "channel", "audience", "held out", "launched"):
        table.add_column(name)
    for c in campaigns:
        launched = f"{c.launched_at:%Y-%m-%d %H:%M}" if c.launched_at else ""
        d = c.definition
        counts = (f"{c.audience:,}", f"{c.held_out:,}")
        table.add_row(str(c.id), c.name, c.status, d.segment, d.channel, *counts, launched)
    out.print(table)


@campaign_app.command("preview")
def preview_command(
    campaign: CampaignArg,
    customer: CustomerOpt = None,
    locale: LocaleOpt = None,
    html: Annotated[bool, typer.Option("--html", help="Show the HTML part too.")] = False,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """The message as one customer would get it (nothing is sent or written)."""
    settings = Settings()
    with store_session(database_url) as session:
        preview = preview_campaign(
            session,
            _definition(session, campaign),
            secret=settings.require_secret(),
            now=datetime.now(UTC),
            customer=customer,
            locale=locale,
            public_url=settings.public_url,
        )
    if as_json:
        out.print_json(json.dumps(preview.to_dict()))
        return
    m = preview.message
    out.print(f"[bold]To:[/] customer {preview.customer} (locale {m.locale})", highlight=False)
    out.print(f"[bold]Subject:[/] {m.subject}", markup=True, highlight=False)
    out.print(m.text, markup=False, highlight=False)
    if html:
        out.print("[bold]HTML:[/]")
        out.print(m.html, markup=False, highlight=False)


@campaign_app.command("test-send")
def test_send_command(
    campaign: CampaignArg,
    to: Annotated[
        str,
        typer.Option("--to", help="Your own e-mail address, or phone number for an SMS campaign."),
    ],
    customer: CustomerOpt = None,
    locale: LocaleOpt = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send the message, as one customer would get it, to your own address (e-mail and SMS
    campaigns; `campaign preview` shows the others)."""
    settings = Settings()
    with store_session(database_url) as session:
        definition = _definition(session, campaign)
        if definition.channel == "sms":
            with settings.sms_channel() as sms:
                result = send_test_sms(
                    session,
                    definition,
                    sms,
                    to=to,
                    secret=settings.require_secret(),
                    now=datetime.now(UTC),
                    customer=customer,
                    locale=locale,
                )
        elif definition.channel == "email":
            if not settings.mail_from:
                raise ConfigurationError("RETENTIO_MAIL_FROM is not set (the From of e-mail)")
            with settings.email_channel() as channel:
                result = send_test_message(
                    session,
                    definition,
                    channel,
                    to=to,
                    mail_from=settings.mail_from,
                    secret=settings.require_secret(),
                    now=datetime.now(UTC),
                    customer=customer,
                    locale=locale,
                    public_url=settings.public_url,
                )
        else:
            raise ConfigurationError(
                f"test-send sends e-mail and SMS; see a {definition.channel} message with: "
                f"retentio campaign preview {campaign}"
            )
    if not result.sent:
        raise ConfigurationError(f"the test message was not sent: {result.detail}")
    out.print(f"Sent a test message to {to}")


@campaign_app.command("launch")
def launch_command(
    campaign: SavedArg,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Record the audience (treated, control) and queue the messages; the worker sends them."""
    settings = Settings()
    with store_session(database_url) as session:
        result = launch_campaign(session, campaign, global_control=settings.global_control)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    held = f"{result.control:,} in the control group"
    if result.global_control:
        held += f", {result.global_control:,} in the global control group"
    out.print(
        f"Launched {result.name}: {result.audience:,} customers, {result.treated:,} queued, "
        f"{held}; sending from {result.send_at:%Y-%m-%d %H:%M} UTC (run `retentio worker`)"
    )


@campaign_app.command("report")
def report_command(
    campaign: SavedArg,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """The delivery funnel and the lift against the control group, with 95 % intervals."""
    with store_session(database_url) as session:
        report = campaign_report(session, campaign)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        return
    _print_report(report)


def _print_report(report: CampaignReport) -> None:
    c = report.campaign
    out.print(f"[bold]{c['name']}[/] ({c['status']}; segment {c['segment']})", highlight=False)
    print_funnel(report.funnel)
    if report.window_start is None:
        out.print(report.verdict)
        return
    assert report.window_end is not None  # noqa: S101
    state = "closed" if report.window_closed else "open: figures so far"
    out.print(
        f"Attribution window {report.window_start:%Y-%m-%d %H:%M} to "
        f"{report.window_end:%Y-%m-%d %H:%M} UTC ({state})",
        highlight=False,
    )
    print_lift(report.to_dict())


def _run_dramatiq(database_url: str, processes: int) -> None:
    """Replace this process by Dramatiq's: ``processes`` workers and the pump."""
    if importlib.util.find_spec("dramatiq") is None:
        raise ConfigurationError(
            "RETENTIO_BROKER_URL needs the redis extra: pip install 'retentio[redis]'"
        )
    os.environ["RETENTIO_DATABASE_URL"] = database_url
    argv = [sys.executable, "-m", "dramatiq", "retentio.tasks", "--processes", str(processes)]
    argv += ["--threads", "1", "--fork-function", "retentio.tasks:pump"]
    err.print(f"Starting {processes} Dramatiq worker process(es) and a pump on the broker")
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, fixed arguments)


@app.command("worker")
def worker_command(
    database_url: DatabaseUrl = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when nothing is due (for cron and tests).")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Deliveries per claim.")] = 100,
    lease: Annotated[
        float,
        typer.Option(
            min=1, help="Seconds a claim lasts: a killed worker's deliveries return after it."
        ),
    ] = 300,
    poll: Annotated[float, typer.Option(min=0.01, help="Seconds between idle polls.")] = 1.0,
    processes: Annotated[
        int, typer.Option(min=1, max=256, help="With RETENTIO_BROKER_URL: worker processes.")
    ] = 2,
) -> None:
    """Send what the outbox holds: claim due deliveries, apply the guards, send, record.

    With RETENTIO_BROKER_URL (Redis) set, run --processes Dramatiq worker processes and a pump
    instead, on this machine; run it on every machine that should send."""
    settings = Settings()
    url = database_url if database_url is not None else settings.database_url
    with store_session(url):  # the database must be migrated
        pass
    if settings.broker_url:
        if until_idle:
            raise ConfigurationError("--until-idle runs without RETENTIO_BROKER_URL only")
        _run_dramatiq(url, processes)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    engine = make_engine(url, relaxed_commits=True)
    options = WorkerOptions(batch=batch, lease=timedelta(seconds=lease), poll_seconds=poll)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with build_worker(settings, engine, options) as worker:
            err.print(
                f"Worker {worker.name} started, sending {', '.join(worker.channels)} "
                "(Ctrl-C stops it after the current batch)"
            )
            total = worker.run(stop=stop, until_idle=until_idle)
    finally:
        engine.dispose()
    err.print("Worker stopped: " + ", ".join(f"{n:,} {k}" for k, n in total.to_dict().items()))
