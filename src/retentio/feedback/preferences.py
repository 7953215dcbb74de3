"""Stated (zero-party) preferences: what the customer told us, with where and when.

``customer_preferences`` holds each preference as it stands; ``preference_events`` keeps
every change (append-only), written in the same transaction. A value that does not change
records nothing. The rules for each value are in :mod:`retentio.feedback.preference_rules`.

The ``birthday`` preference is also written to the customer's ``attributes["birthday"]``
(and removed from it when cleared), in the same transaction, because the loyalty
programme's birthday points read that attribute. The ``snooze_until`` preference pauses
marketing: the delivery worker skips marketing messages until the end of that day on the
customer's clock (transactional messages still go).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import JSON, select
from sqlalchemy.orm import Session

from retentio.feedback.preference_rules import (
    DEFAULT_TOPICS,
    PREFERENCE_NAMES,
    PREFERENCE_SOURCES,
    PreferenceError,
    Topic,
    check_preference,
    snooze_end,
)
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id
from retentio.store.feedback_tables import CustomerPreference, PreferenceEvent
from retentio.store.tables import Customer
from retentio.store.transactions import begin_write

__all__ = [
    "DEFAULT_ZONE",
    "PreferenceChange",
    "PreferenceUpdate",
    "StatedPreferences",
    "end_snooze",
    "local_today",
    "preference_history",
    "preferences_of",
    "set_preferences",
    "snooze",
]

#: The clock a customer without a (known) time zone is read on, as the delivery worker does.
DEFAULT_ZONE = "Europe/Copenhagen"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class StatedPreferences:
    """A customer's stated preferences as they stand: ``values`` by name, and for each the
    ``source`` and ``updated_at`` of its latest change."""

    customer: str
    values: dict[str, Any]
    sources: dict[str, str]
    updated_at: dict[str, datetime]

    @property
    def snoozed_until(self) -> date | None:
        """The last day of the marketing snooze, if one was set (it may have passed)."""
        value = self.values.get("snooze_until")
        return date.fromisoformat(value) if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``customer``, ``preferences`` (name -> value) and ``stated`` (name ->
        {source, updated_at})."""
        return {
            "customer": self.customer,
            "preferences": dict(self.values),
            "stated": {
                name: {"source": self.sources[name], "updated_at": _iso(self.updated_at[name])}
                for name in self.values
            },
        }


@dataclass(frozen=True)
class PreferenceUpdate:
    """What :func:`set_preferences` did: the names that changed, and the result."""

    changed: tuple[str, ...]
    preferences: StatedPreferences

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the preferences' keys and ``changed``."""
        return {**self.preferences.to_dict(), "changed": list(self.changed)}


@dataclass(frozen=True)
class PreferenceChange:
    """One recorded change (a ``None`` value: the preference was cleared)."""

    name: str
    value: Any
    source: str
    recorded_at: datetime
    recorded_by: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name, value, source, recorded_at, recorded_by."""
        return {
            "name": self.name,
            "value": self.value,
            "source": self.source,
            "recorded_at": _iso(self.recorded_at),
            "recorded_by": self.recorded_by,
        }


def _customer(session: Session, customer: Customer | str, *, lock: bool = False) -> Customer:
    if isinstance(customer, Customer):
        if lock:
            session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
            session.refresh(customer)
        return customer
    row = customer_by_external_id(session, customer) if "\x00" not in customer else None
    if row is None:
        raise NotFoundError(f"no customer with external_id {customer!r}")
    if lock:
        session.execute(select(Customer.id).where(Customer.id == row.id).with_for_update())
        session.refresh(row)
    return row


def local_today(customer: Customer, now: datetime, default_zone: str = DEFAULT_ZONE) -> date:
    """Today on the customer's clock (their time zone, else ``default_zone``)."""
    for name in (customer.time_zone, default_zone):
        if name:
            try:
                return now.astimezone(ZoneInfo(name)).date()
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return now.astimezone(UTC).date()


def _rows(session: Session, customer_id: int) -> dict[str, CustomerPreference]:
    query = select(CustomerPreference).where(CustomerPreference.customer_id == customer_id)
    return {row.name: row for row in session.scalars(query)}


def _stated(customer: Customer, rows: Mapping[str, CustomerPreference]) -> StatedPreferences:
    names = sorted(rows)
    return StatedPreferences(
        customer.external_id,
        {name: rows[name].value for name in names},
        {name: rows[name].source for name in names},
        {name: rows[name].updated_at for name in names},
    )


def preferences_of(session: Session, customer: Customer | str) -> StatedPreferences:
    """``customer``'s (the shop's id, or the row) stated preferences; a NotFoundError when
    there is no such customer."""
    row = _customer(session, customer)
    return _stated(row, _rows(session, row.id))


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _changes(
    values: Mapping[str, Any],
    current: Mapping[str, CustomerPreference],
    *,
    replace: bool,
    topics: Sequence[Topic],
    today: date,
) -> dict[str, Any]:
    """The checked new value of each preference that changes (None: cleared)."""
    wanted = dict(values)
    if replace:
        wanted |= {name: None for name in current if name not in values}
    changes: dict[str, Any] = {}
    for name in sorted(wanted):
        stored = current[name].value if name in current else None
        raw = wanted[name]
        if name in PREFERENCE_NAMES and raw == stored:
            continue  # unchanged as given (a past snooze date sent back, for one)
        checked = check_preference(name, raw, topics=topics, today=today)
        if checked != stored:
            changes[name] = checked
    return changes


def _mirror_birthday(customer: Customer, value: str | None) -> None:
    """The loyalty programme reads the birthday from the customer's attributes."""
    attributes = dict(customer.attributes or {})
    if value is None:
        attributes.pop("birthday", None)
    else:
        attributes["birthday"] = value
    if attributes != (customer.attributes or {}):
        customer.attributes = attributes


def set_preferences(
    session: Session,
    customer: Customer | str,
    values: Mapping[str, Any],
    *,
    source: str,
    actor: str,
    now: datetime | None = None,
    topics: Sequence[Topic] = DEFAULT_TOPICS,
    replace: bool = False,
    default_zone: str = DEFAULT_ZONE,
) -> PreferenceUpdate:
    """Store ``values`` (name -> value; None clears one) as ``customer``'s stated preferences
    (committed, all or nothing): each changed value is written with one ``preference_events``
    row; an unchanged one records nothing. ``replace`` clears the preferences not in
    ``values`` (an HTTP PUT). Every value is checked first: a PreferenceError names the field,
    and nothing is written. ``topics`` are the shop's; dates are read on the customer's clock.
    """
    if source not in PREFERENCE_SOURCES:
        raise PreferenceError("source", f"one of {', '.join(PREFERENCE_SOURCES)}, not {source!r}")
    if not actor or len(actor) > 200:
        raise PreferenceError("actor", "1 to 200 characters")
    if not isinstance(values, Mapping):
        raise PreferenceError("preferences", "a mapping of preference names to values")
    at = _now(now)
    begin_write(session)
    try:
        row = _customer(session, customer, lock=True)
        if row.erased_at is not None:
            raise PreferenceError("customer", "the customer has been erased")
        current = _rows(session, row.id)
        today = local_today(row, at, default_zone)
        changes = _changes(values, current, replace=replace, topics=topics, today=today)
        for name, value in changes.items():
            stored = current.get(name)
            if value is None and stored is not None:
                session.delete(stored)
                del current[name]
            elif value is not None and stored is not None:
                stored.value, stored.source, stored.updated_at = value, source, at
            elif value is not None:
                current[name] = CustomerPreference(
                    customer_id=row.id, name=name, value=value, source=source, updated_at=at
                )
                session.add(current[name])
            session.add(
                PreferenceEvent(
                    customer_id=row.id,
                    name=name,
                    value=JSON.NULL if value is None else value,
                    source=source,
                    recorded_at=at,
                    recorded_by=actor,
                )
            )
            if name == "birthday":
                _mirror_birthday(row, value)
        session.flush()
        result = PreferenceUpdate(tuple(changes), _stated(row, current))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def snooze(
    session: Session,
    customer: Customer | str,
    days: int,
    *,
    source: str,
    actor: str,
    now: datetime | None = None,
    default_zone: str = DEFAULT_ZONE,
) -> PreferenceUpdate:
    """Pause ``customer``'s marketing for ``days`` (30, 60 or 90): ``snooze_until`` becomes
    today (on their clock) + ``days``, the last day without marketing (committed)."""
    at = _now(now)
    row = _customer(session, customer)
    until = snooze_end(local_today(row, at, default_zone), days)
    session.rollback()  # the write below begins its own transaction (SQLite: BEGIN IMMEDIATE)
    return set_preferences(
        session,
        row,
        {"snooze_until": until.isoformat()},
        source=source,
        actor=actor,
        now=at,
        default_zone=default_zone,
    )


def end_snooze(
    session: Session,
    customer: Customer | str,
    *,
    source: str,
    actor: str,
    now: datetime | None = None,
) -> PreferenceUpdate:
    """Let marketing resume now (clears ``snooze_until``; committed)."""
    return set_preferences(
        session, customer, {"snooze_until": None}, source=source, actor=actor, now=now
    )


def preference_history(
    session: Session, customer: Customer | str, *, limit: int = 100
) -> list[PreferenceChange]:
    """The latest ``limit`` changes of ``customer``'s stated preferences, newest first."""
    row = _customer(session, customer)
    e = PreferenceEvent
    query = (
        select(e.name, e.value, e.source, e.recorded_at, e.recorded_by)
        .where(e.customer_id == row.id)
        .order_by(e.recorded_at.desc(), e.id.desc())
        .limit(max(1, min(limit, 1000)))
    )
    return [PreferenceChange(*found) for found in session.execute(query)]
