"""A person's data with their stated preferences: the access export and the erasure that the
preference centre offers.

Privacy's export document has a fixed schema that does not (yet) list stated preferences,
and its erasure does not (yet) delete them: here the export's ZIP gets ``preferences.json``,
``preferences.csv`` and ``preference_events.csv`` added, and the erasure deletes the
preferences and their history in the same transaction as the rest of the person's data.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from retentio.core.csvsafe import neutralise
from retentio.feedback.preferences import preference_history, preferences_of
from retentio.privacy import ErasureReport, export_person, export_zip
from retentio.privacy.erasure import erase_customer_row
from retentio.privacy.errors import NotFoundError
from retentio.store.feedback_tables import CustomerPreference, PreferenceEvent
from retentio.store.tables import Customer
from retentio.store.transactions import begin_write

__all__ = ["erase_with_preferences", "export_with_preferences"]

_HISTORY_LIMIT = 1000


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


def export_with_preferences(
    session: Session, customer: str, *, actor: str, now: datetime | None = None
) -> bytes:
    """The ZIP of privacy's export of ``customer`` (the shop's id; the read is audited)
    with the stated preferences and their history added."""
    document = export_person(session, customer, actor=actor, now=now)
    stated = preferences_of(session, customer).to_dict()
    history = [
        change.to_dict() for change in preference_history(session, customer, limit=_HISTORY_LIMIT)
    ]
    session.rollback()  # end the read
    current = [
        {"name": name, "value": value, **stated["stated"][name]}
        for name, value in stated["preferences"].items()
    ]
    buffer = io.BytesIO(export_zip(document))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps({"preferences": current, "history": history}, ensure_ascii=False)
        archive.writestr("preferences.json", text)
        archive.writestr(
            "preferences.csv", _csv(current, ["name", "value", "source", "updated_at"])
        )
        columns = ["name", "value", "source", "recorded_at", "recorded_by"]
        archive.writestr("preference_events.csv", _csv(history, columns))
    return buffer.getvalue()


def erase_with_preferences(
    session: Session,
    secret: bytes,
    customer_id: int,
    *,
    actor: str,
    reason: str = "request",
    now: datetime | None = None,
) -> ErasureReport:
    """Erase the person (privacy's erasure: see :mod:`retentio.privacy.erasure`) and delete
    their stated preferences and history, in one transaction (committed, all or nothing)."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    begin_write(session)
    try:
        row = session.scalars(
            select(Customer).where(Customer.id == customer_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"no customer with id {customer_id}")
        for table in (PreferenceEvent, CustomerPreference):
            session.execute(delete(table).where(table.customer_id == customer_id))
        report = erase_customer_row(session, secret, row, actor=actor, now=at, reason=reason)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report
