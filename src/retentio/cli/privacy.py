"""`retentio privacy export|erase|purge|audit` and `retentio consent texts|publish`."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retentio.bootstrap import Settings
from retentio.cli.app import app, err, out
from retentio.cli.db import DatabaseUrl, store_session
from retentio.core.files import write_atomically
from retentio.privacy import (
    CONSENT_CHANNELS,
    PURPOSES,
    NotFoundError,
    RetentionPolicy,
    audit_entries,
    erase_person,
    export_person,
    export_zip,
    list_texts,
    pseudonym,
    publish_default_texts,
    publish_text,
    purge,
)

__all__ = ["consent_app", "privacy_app"]

privacy_app = typer.Typer(
    help="Export, erase and purge personal data; read the audit log.", no_args_is_help=True
)
consent_app = typer.Typer(help="Consent texts shown to customers.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
app.add_typer(consent_app, name="consent")

CustomerId = Annotated[str, typer.Argument(help="The shop's customer id.")]


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@privacy_app.command("export")
def export_command(
    customer: CustomerId,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write to this file: .zip (JSON plus one CSV per section) or .json "
            "[default: print the JSON].",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export everything held on a person (GDPR access and portability); the read is audited."""
    with store_session(database_url) as session:
        document = export_person(session, customer, actor=_actor())
    if output is None:
        out.print_json(json.dumps(document, ensure_ascii=False))
        return
    if output.suffix.lower() == ".zip":
        data = export_zip(document)
    else:
        data = json.dumps(document, ensure_ascii=False, indent=2).encode()
    write_atomically(output, data, private=True)  # personal data: its owner reads it only
    counts = ", ".join(f"{len(document[k])} {k}" for k in ("orders", "events", "consent_events"))
    err.print(f"Wrote the export of {customer} ({counts}) to {output}")


@privacy_app.command("erase")
def erase_command(
    customer: CustomerId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Erase a person: PII removed from every table, orders kept pseudonymised, addresses
    suppressed. It cannot be undone."""
    secret = Settings().require_secret()
    if not yes:
        if not typer.confirm(f"Erase customer {customer!r}? This cannot be undone", err=True):
            err.print("Nothing erased.")
            raise SystemExit(1)
    with store_session(database_url) as session:
        report = erase_person(session, secret, customer, actor=_actor())
    if report.already_erased:
        err.print(f"Customer {customer} was already erased (now {report.customer}).")
        return
    err.print(
        f"Erased customer {customer}: now {report.customer}; {report.events_deleted} events "
        f"deleted, {report.orders_kept} orders kept pseudonymised, "
        f"{report.consents_withdrawn} consents withdrawn, "
        f"{report.suppressions_added} addresses suppressed."
    )


@privacy_app.command("purge")
def purge_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be removed.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Apply the retention periods (RETENTIO_RETENTION_*): delete old data, erase inactive
    customers."""
    settings = Settings()
    secret = settings.require_secret()
    policy = RetentionPolicy(
        events_days=settings.retention_events_days or None,
        inactive_customer_days=settings.retention_inactive_customer_days or None,
        audit_days=settings.retention_audit_days or None,
    )
    with store_session(database_url) as session:
        report = purge(session, secret, policy, dry_run=dry_run, actor=_actor())
    grid = Table(title="Would be removed (dry run)" if dry_run else "Removed")
    grid.add_column("category")
    grid.add_column("rows", justify="right")
    for category, count in report.counts.items():
        grid.add_row(category.replace("_", " "), f"{count:,}")
    out.print(grid)


@privacy_app.command("audit")
def audit_command(
    customer: Annotated[
        str | None, typer.Option("--customer", help="Only entries about this customer id.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many entries.", min=1)] = 50,
    after: Annotated[
        int | None, typer.Option(help="Start after this entry id (to page on).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show who read or changed which person's data, when (oldest first)."""
    with store_session(database_url) as session:
        try:
            entries = audit_entries(session, customer=customer, after_id=after, limit=limit)
        except NotFoundError:
            settings = Settings()
            if customer is None or settings.secret_key is None:
                raise
            erased = pseudonym(settings.require_secret(), customer)  # erased: find by pseudonym
            entries = audit_entries(session, customer=erased, after_id=after, limit=limit)
    grid = Table(title=f"{len(entries)} audit entr{'y' if len(entries) == 1 else 'ies'}")
    for column in ("id", "when (UTC)", "actor", "action", "customer", "details"):
        grid.add_column(column)
    for entry in entries:
        grid.add_row(
            str(entry.id),
            f"{entry.occurred_at:%Y-%m-%d %H:%M:%S}",
            entry.actor,
            entry.action,
            entry.customer or "",
            json.dumps(entry.details, sort_keys=True),
        )
    out.print(grid)


@consent_app.command("texts")
def texts_command(
    language: Annotated[str | None, typer.Option(help="Only texts in this language.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List the published consent texts."""
    with store_session(database_url) as session:
        texts = list_texts(session, language=language)
    grid = Table(title=f"{len(texts)} consent text(s)")
    for column in ("version", "language", "channel", "purpose", "published", "text"):
        grid.add_column(column)
    for item in texts:
        when = f"{item.published_at:%Y-%m-%d}" if item.published_at else ""
        grid.add_row(item.version, item.language, item.channel, item.purpose, when, item.text)
    out.print(grid)


@consent_app.command("publish")
def publish_command(
    version: Annotated[
        str | None, typer.Argument(help="The new version's name, e.g. 2026-05.")
    ] = None,
    language: Annotated[str | None, typer.Option(help="Language tag: da, en, nl...")] = None,
    text_file: Annotated[
        Path | None,
        typer.Option("--text-file", help="UTF-8 file with the exact wording.", exists=True),
    ] = None,
    channel: Annotated[str, typer.Option(help=", ".join(CONSENT_CHANNELS))] = "email",
    purpose: Annotated[str, typer.Option(help=", ".join(PURPOSES))] = "marketing",
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Publish the bundled texts (da, en, nl).")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Publish a consent text version (published texts never change), or the bundled ones."""
    with store_session(database_url) as session:
        if defaults:
            published = publish_default_texts(session, actor=_actor())
        elif version is None or language is None or text_file is None:
            raise typer.BadParameter("give VERSION, --language and --text-file, or --defaults")
        else:
            text = text_file.read_text(encoding="utf-8").strip()
            published = [
                publish_text(
                    session,
                    version=version,
                    language=language,
                    channel=channel,
                    purpose=purpose,
                    text=text,
                    actor=_actor(),
                )
            ]
    for item in published:
        err.print(f"Published {item.version} ({item.language}, {item.channel} {item.purpose}).")
