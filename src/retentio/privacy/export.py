"""Access and portability (GDPR art. 15 and 20): everything held on a person, as JSON and CSV.

The document follows ``export.schema.json`` (JSON Schema draft 2020-12, shipped next to this
module) and is validated against it before it is returned. The read is written to the audit log.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the lock file
from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.csvsafe import neutralise
from retentio.core.errors import DataError
from retentio.privacy._shared import find_customer, iso, utc_now
from retentio.privacy.audit import record_access
from retentio.privacy.consent import state_of
from retentio.privacy.export_derived import DERIVED_SECTIONS, derived_sections
from retentio.store.tables import (
    AuditEntry,
    Consent,
    ConsentEvent,
    ConsentText,
    Customer,
    Event,
    Order,
    OrderLine,
    Refund,
)

__all__ = ["EXPORT_SECTIONS", "export_person", "export_schema", "export_zip", "validate_export"]

#: The document's list sections, each one CSV file in the zip (besides customer.csv).
EXPORT_SECTIONS = ("orders", "order_lines", "refunds", "events", "consents", "consent_events")
_FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


def _is_timestamp(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


_FORMAT_CHECKER.checks("date-time", raises=ValueError)(_is_timestamp)


@cache
def export_schema() -> dict[str, Any]:
    """The JSON Schema every export follows."""
    text = files("retentio.privacy").joinpath("export.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(export_schema(), format_checker=_FORMAT_CHECKER)


def validate_export(document: dict[str, Any]) -> None:
    """A DataError naming the first place where ``document`` breaks the export schema."""
    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        raise DataError(f"export does not follow its schema at {where}: {error.message}")


def _customer(row: Customer) -> dict[str, Any]:
    return {
        "external_id": row.external_id,
        "email": row.email,
        "phone": row.phone,
        "first_name": row.first_name,
        "locale": row.locale,
        "time_zone": row.time_zone,
        "country": row.country,
        "attributes": dict(row.attributes or {}),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "erased_at": iso(row.erased_at),
    }


def _orders(session: Session, customer_id: int) -> list[dict[str, Any]]:
    orders = session.scalars(
        select(Order).where(Order.customer_id == customer_id).order_by(Order.ordered_at, Order.id)
    ).all()
    ids = [o.id for o in orders]
    lines: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    refunds: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    query = select(OrderLine).where(OrderLine.order_id.in_(ids)).order_by(OrderLine.line_no)
    for line in session.scalars(query):
        lines[line.order_id].append(
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "amount_minor": line.amount_minor,
            }
        )
    query_refunds = select(Refund).where(Refund.order_id.in_(ids)).order_by(Refund.refunded_at)
    for refund in session.scalars(query_refunds):
        refunds[refund.order_id].append(
            {
                "external_id": refund.external_id,
                "refunded_at": iso(refund.refunded_at),
                "amount_minor": refund.amount_minor,
            }
        )
    return [
        {
            "external_id": o.external_id,
            "ordered_at": iso(o.ordered_at),
            "currency": o.currency,
            "total_minor": o.total_minor,
            "status": o.status,
            "lines": lines[o.id],
            "refunds": refunds[o.id],
        }
        for o in orders
    ]


def _events(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(Event).where(Event.customer_id == customer_id).order_by(Event.occurred_at, Event.id)
    )
    return [
        {
            "external_id": e.external_id,
            "name": e.name,
            "properties": dict(e.properties or {}),
            "occurred_at": iso(e.occurred_at),
            "received_at": iso(e.received_at),
        }
        for e in session.scalars(query)
    ]


def _consent_events(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(ConsentEvent, ConsentText)
        .outerjoin(ConsentText, ConsentText.id == ConsentEvent.text_id)
        .where(ConsentEvent.customer_id == customer_id)
        .order_by(ConsentEvent.id)
    )
    return [
        {
            "id": e.id,
            "channel": e.channel,
            "purpose": e.purpose,
            "granted": e.granted,
            "is_confirmation": e.is_confirmation,
            "lawful_basis": e.lawful_basis,
            "source": e.source,
            "source_detail": e.source_detail,
            "text_version": t.version if t else None,
            "language": t.language if t else None,
            "text": t.text if t else None,
            "ip_address": e.ip_address,
            "user_agent": e.user_agent,
            "recorded_by": e.recorded_by,
            "recorded_at": iso(e.recorded_at),
        }
        for e, t in session.execute(query)
    ]


def _audit(session: Session, customer_id: int) -> list[dict[str, Any]]:
    query = select(AuditEntry).where(AuditEntry.customer_id == customer_id).order_by(AuditEntry.id)
    return [
        {
            "id": a.id,
            "occurred_at": iso(a.occurred_at),
            "actor": a.actor,
            "action": a.action,
            "details": dict(a.details or {}),
        }
        for a in session.scalars(query)
    ]


def export_person(
    session: Session, customer: str, *, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Everything held on ``customer`` (the shop's id) as a schema-valid, JSON-ready document.

    Keys: format, version, exported_at, customer, orders (with lines and refunds), events,
    consents, consent_events, audit, and what was derived or done: messages, segments, scores,
    campaigns, journeys, inbox, push_subscriptions, loyalty_points, loyalty_tiers,
    loyalty_coupons, loyalty_referrals. The read is audited (committed); the audit
    list shows the accesses before this one.
    """
    at = utc_now(now)
    row = find_customer(session, customer)
    consents = session.scalars(
        select(Consent)
        .where(Consent.customer_id == row.id)
        .order_by(Consent.channel, Consent.purpose)
    )
    document: dict[str, Any] = {
        "format": "retentio.person_export",
        "version": 1,
        "exported_at": at.isoformat(),
        "customer": _customer(row),
        "orders": _orders(session, row.id),
        "events": _events(session, row.id),
        "consents": [state_of(row, c).to_dict() for c in consents],
        "consent_events": _consent_events(session, row.id),
        "audit": _audit(session, row.id),
        **derived_sections(session, row.id),
    }
    for consent in document["consents"]:
        del consent["customer"]
    validate_export(document)
    counts = {k: len(document[k]) for k in ("orders", "events", "consent_events")}
    record_access(session, actor, "person.export", row.id, counts, now=at)
    session.commit()
    return document


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False, sort_keys=True)
            cells.append("" if value is None else neutralise(value))
        writer.writerow(cells)
    return buffer.getvalue()


def export_zip(document: dict[str, Any]) -> bytes:
    """A zip of ``person.json`` and one CSV per section (cells neutralised against formulas)."""
    validate_export(document)
    full = export_schema()
    schema = full["properties"]
    orders = document["orders"]
    lines = [{"order": o["external_id"], **line} for o in orders for line in o["lines"]]
    refunds = [{"order": o["external_id"], **r} for o in orders for r in o["refunds"]]
    flat_orders = [{k: v for k, v in o.items() if k not in ("lines", "refunds")} for o in orders]
    defs = full["$defs"]
    tables: dict[str, tuple[list[dict[str, Any]], list[str]]] = {
        "customer": ([document["customer"]], list(schema["customer"]["properties"])),
        "orders": (flat_orders, ["external_id", "ordered_at", "currency", "total_minor", "status"]),
        "order_lines": (lines, ["order", *defs["line"]["required"]]),
        "refunds": (refunds, ["order", *defs["refund"]["required"]]),
    }
    for section in ("events", "consents", "consent_events", "audit", *DERIVED_SECTIONS):
        tables[section] = (document[section], list(schema[section]["items"]["required"]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps(document, ensure_ascii=False, indent=2)
        archive.writestr("person.json", text)
        for name, (rows, columns) in tables.items():
            archive.writestr(f"{name}.csv", _csv(rows, columns))
    return buffer.getvalue()
