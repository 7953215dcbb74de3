"""`retentio segment count|preview|export|create|list|refresh|delete|fields` and
`retentio scores refresh`."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from retentio.cli.app import app, err, out
from retentio.cli.db import DatabaseUrl, store_session
from retentio.core.csvsafe import neutralise
from retentio.core.files import open_atomically
from retentio.segments import (
    FIELDS,
    PREVIEW_LIMIT,
    SegmentDefinition,
    SegmentError,
    count_members,
    delete_segment,
    export_members,
    find_segment,
    list_segments,
    parse_definition,
    preview_members,
    refresh_scores,
    refresh_segment,
    save_segment,
    scores_as_of,
)

__all__ = ["load_definition_file", "scores_app", "segment_app"]

segment_app = typer.Typer(
    help="Segments: who is in them, how many, a preview, an export; saved segments and their "
    "memberships.",
    no_args_is_help=True,
)
scores_app = typer.Typer(help="Stored customer scores (RFM, P(alive), CLV).", no_args_is_help=True)
app.add_typer(segment_app, name="segment")
app.add_typer(scores_app, name="scores")

SegmentArg = Annotated[
    str,
    typer.Argument(
        help="A definition file (.yaml, .yml or .json) or the name of a saved segment.",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_STALE = timedelta(days=1)
_SUFFIXES = (".yaml", ".yml", ".json")


def load_definition_file(path: Path) -> Any:
    """The decoded YAML or JSON of a definition file; a SegmentError naming the line if it
    cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SegmentError(str(path), f"cannot be read: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SegmentError(f"{path}:{exc.lineno}", f"not valid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SegmentError(where, f"not valid YAML: {problem}") from None


def _definition(session: Any, given: str) -> SegmentDefinition:
    path = Path(given)
    if path.suffix.lower() in _SUFFIXES:
        if not path.is_file():
            raise SegmentError(given, "no such file")
        return parse_definition(load_definition_file(path))
    return find_segment(session, given).definition


def _warn_about_scores(session: Any, definition: SegmentDefinition) -> None:
    if "scores" not in definition.sources():
        return
    at = scores_as_of(session)
    if at is None:
        err.print(
            "[yellow]warning:[/] no stored scores: customers match no score condition until "
            "`retentio scores refresh` has run"
        )
    elif datetime.now(UTC) - at > _STALE:
        err.print(f"[yellow]warning:[/] the stored scores are from {at:%Y-%m-%d %H:%M} UTC")


@segment_app.command("count")
def count_command(
    segment: SegmentArg, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """How many customers are in the segment now."""
    with store_session(database_url) as session:
        definition = _definition(session, segment)
        _warn_about_scores(session, definition)
        members = count_members(session, definition)
    if as_json:
        out.print_json(json.dumps({"segment": definition.name, "members": members}))
    else:
        out.print(f"{definition.name}: {members:,} customers")


@segment_app.command("preview")
def preview_command(
    segment: SegmentArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Members shown.")] = PREVIEW_LIMIT,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """A few members (by customer id) with the values of the fields the segment tests."""
    with store_session(database_url) as session:
        definition = _definition(session, segment)
        _warn_about_scores(session, definition)
        rows = preview_members(session, definition, limit=limit)
        members = count_members(session, definition)
    if as_json:
        out.print_json(json.dumps({"segment": definition.name, "members": members, "rows": rows}))
        return
    table = Table(title=f"{definition.name}: {members:,} customers (first {len(rows)})")
    for column in rows[0] if rows else ["external_id"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(table)


@segment_app.command("export")
def export_command(
    segment: SegmentArg,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The CSV file to write.", show_default=False)
    ],
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="A further field to include (repeatable; see `retentio segment fields`).",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Every member (customer id, the tested fields and --column fields) to a CSV file."""
    columns = tuple(column or ())
    for name in columns:
        if name not in FIELDS and not name.startswith("attributes."):
            raise SegmentError(f"--column {name}", "unknown field (see `retentio segment fields`)")
    with store_session(database_url) as session:
        definition = _definition(session, segment)
        _warn_about_scores(session, definition)
        written = 0
        with open_atomically(output, private=True) as raw:  # customer ids: personal data
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer: Any = None
            for row in export_members(session, definition, columns=columns):
                if writer is None:
                    writer = csv.DictWriter(text, fieldnames=list(row), lineterminator="\n")
                    writer.writeheader()
                writer.writerow({k: neutralise(v) for k, v in row.items()})
                written += 1
            if writer is None:
                text.write("external_id\n")
            text.flush()
            text.detach()
    err.print(f"Wrote {written:,} members of {definition.name} to {output}")


@segment_app.command("create")
def create_command(
    file: Annotated[
        Path,
        typer.Argument(help="The definition (.yaml, .yml or .json).", exists=True, dir_okay=False),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Save a segment (or replace the definition of the one with its name)."""
    with store_session(database_url) as session:
        saved, created = save_segment(session, load_definition_file(file))
    out.print(f"{'Created' if created else 'Updated'} segment {saved.name}")


@segment_app.command("list")
def list_command(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """The saved segments, with their members at the last refresh."""
    with store_session(database_url) as session:
        segments = list_segments(session)
    if as_json:
        out.print_json(json.dumps([s.to_dict() for s in segments]))
        return
    table = Table(title="Segments")
    for name in ("name", "members", "refreshed", "description"):
        table.add_column(name)
    for s in segments:
        refreshed = f"{s.refreshed_at:%Y-%m-%d %H:%M}" if s.refreshed_at else "never"
        table.add_row(s.name, f"{s.members:,}", refreshed, s.definition.description)
    out.print(table)


@segment_app.command("refresh")
def refresh_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="Saved segments [default: all of them].")
    ] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Evaluate saved segments and record who entered and who left."""
    with store_session(database_url) as session:
        saved = {s.name: s.definition for s in list_segments(session)}
        chosen = names or list(saved)
        reading = [saved[n] for n in chosen if n in saved and "scores" in saved[n].sources()]
        if reading:  # one warning, not one per segment
            _warn_about_scores(session, reading[0])
        results = [refresh_segment(session, name) for name in chosen]
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in results]))
        return
    for r in results:
        out.print(f"{r.segment}: {r.members:,} members ({r.entered:,} entered, {r.exited:,} left)")
    if not results:
        out.print("No saved segments (retentio segment create FILE)")


@segment_app.command("delete")
def delete_command(
    name: Annotated[str, typer.Argument(help="The saved segment.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Delete a saved segment and its membership history."""
    with store_session(database_url) as session:
        delete_segment(session, name)
    out.print(f"Deleted segment {name}")


@segment_app.command("fields")
def fields_command() -> None:
    """The fields a condition can test."""
    table = Table(title="Segment fields (and attributes.<name>, event, consent)")
    for name in ("field", "from", "kind", "meaning"):
        table.add_column(name)
    for field in FIELDS.values():
        table.add_row(field.name, field.source, field.kind, field.help)
    out.print(table)


@scores_app.command("refresh")
def scores_refresh_command(
    horizon: Annotated[str, typer.Option(help="Prediction horizon, e.g. 12M or 90D.")] = "12M",
    database_url: DatabaseUrl = None,
) -> None:
    """Compute every customer's RFM scores and predictions and store them for segments."""
    with store_session(database_url) as session:
        result = refresh_scores(session, horizon=horizon)
    out.print(f"Stored scores of {result.customers:,} customers ({result.horizon} horizon)")
    if result.note:
        err.print(f"[yellow]note:[/] {result.note}")
