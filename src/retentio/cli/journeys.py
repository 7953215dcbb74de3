"""`retentio journey create|list|show|pause|resume|report|template`."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retentio.campaigns import (
    SavedJourney,
    find_journey,
    list_journeys,
    save_journey,
    set_journey_status,
)
from retentio.campaigns.journey_report import journey_report
from retentio.campaigns.journey_templates import TEMPLATES, journey_template
from retentio.cli.app import app, out
from retentio.cli.db import DatabaseUrl, store_session
from retentio.cli.lift_text import print_funnel, print_lift
from retentio.cli.segments import load_definition_file

__all__ = ["journey_app"]

journey_app = typer.Typer(
    help="Journeys: a trigger (entering a segment, an event), steps (send, wait, branch, "
    "split, exit) and a goal; moved along by the worker.",
    no_args_is_help=True,
)
app.add_typer(journey_app, name="journey")

NameArg = Annotated[str, typer.Argument(help="The journey's name.", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _line(journey: SavedJourney) -> str:
    entries = ", ".join(f"{n:,} {status}" for status, n in sorted(journey.entries.items()))
    return f"{journey.name} ({journey.status}): {entries or 'nobody yet'}"


@journey_app.command("create")
def create_command(
    file: Annotated[
        Path,
        typer.Argument(help="The definition (.yaml, .yml or .json).", exists=True, dir_okay=False),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Save a journey; it is active from now (customers who enter its trigger from now on)."""
    with store_session(database_url) as session:
        saved = save_journey(session, load_definition_file(file))
    d = saved.definition
    trigger = f"segment {d.trigger_segment}" if d.trigger_segment else f"event {d.trigger_event}"
    out.print(
        f"Saved journey {d.name} (active): {len(d.steps)} steps, entered by {trigger}, "
        f"{d.holdout:.0%} held out"
    )


@journey_app.command("list")
def list_command(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """The journeys, with their entrants by status."""
    with store_session(database_url) as session:
        journeys = list_journeys(session)
    if as_json:
        out.print_json(json.dumps([j.to_dict() for j in journeys]))
        return
    table = Table(title="Journeys")
    for name in ("name", "status", "trigger", "steps", "entrants"):
        table.add_column(name)
    for j in journeys:
        d = j.definition
        trigger = (
            f"segment {d.trigger_segment}" if d.trigger_segment else f"event {d.trigger_event}"
        )
        entrants = ", ".join(f"{n:,} {s}" for s, n in sorted(j.entries.items()))
        table.add_row(d.name, j.status, trigger, str(len(d.steps)), entrants)
    out.print(table)


@journey_app.command("show")
def show_command(name: NameArg, database_url: DatabaseUrl = None) -> None:
    """One journey as JSON: its steps and entrants by status."""
    with store_session(database_url) as session:
        journey = find_journey(session, name)
    out.print_json(json.dumps(journey.to_dict()))


@journey_app.command("pause")
def pause_command(name: NameArg, database_url: DatabaseUrl = None) -> None:
    """Pause: no one enters or moves on (messages already queued still go)."""
    with store_session(database_url) as session:
        journey = set_journey_status(session, name, "paused")
    out.print(_line(journey))


@journey_app.command("resume")
def resume_command(name: NameArg, database_url: DatabaseUrl = None) -> None:
    """Resume a paused journey: entrants move on where they stopped."""
    with store_session(database_url) as session:
        journey = set_journey_status(session, name, "active")
    out.print(_line(journey))


@journey_app.command("report")
def report_command(
    name: NameArg, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """The funnel of the journey's messages and its entrants against its control group, each
    measured over the attribution window from when they entered."""
    with store_session(database_url) as session:
        report = journey_report(session, name).to_dict()
    if as_json:
        out.print_json(json.dumps(report))
        return
    j, w = report["journey"], report["window"]
    out.print(f"[bold]{j['name']}[/] ({j['status']})", highlight=False)
    print_funnel(report["funnel"])
    out.print(
        f"{w['entries']:,} entries, each measured over {w['attribution_days']} days from "
        f"entering ({w['open']:,} still open: figures so far)",
        highlight=False,
    )
    print_lift(report)


@journey_app.command("template")
def template_command(
    name: Annotated[
        str | None,
        typer.Argument(
            help=f"One of {', '.join(TEMPLATES)} [default: list them].", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write it to this file.")
    ] = None,
) -> None:
    """A built-in journey to start from (win-back, re-engagement, post-purchase,
    replenishment), as YAML: edit it, create its segment, then `retentio journey create`."""
    if name is None:
        for template in TEMPLATES:
            out.print(template)
        return
    text = journey_template(name)
    if output is None:
        out.print(text, markup=False, highlight=False, end="")
        return
    output.write_text(text, encoding="utf-8")
    out.print(f"Wrote the {name} journey to {output}")
