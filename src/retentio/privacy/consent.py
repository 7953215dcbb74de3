"""The consent ledger: append-only events, the current state derived from them.

Each grant, withdrawal or double opt-in confirmation is one ``consent_events`` row; the
``consents`` row of that customer x channel x purpose is updated in the same transaction by
:func:`apply_event`, the one rule that :func:`replay_ledger` also uses to rebuild the state.
E-mail marketing on the basis of consent counts only once confirmed (double opt-in); the
``soft_opt_in`` basis (an existing customer's own e-mail/SMS, markedsføringsloven §10 stk. 2,
Telecommunicatiewet 11.7 lid 3) needs an order of the customer and no earlier objection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from retentio.core.errors import DataError
from retentio.privacy._shared import find_customer, iso, utc_now
from retentio.privacy.errors import ConsentError
from retentio.privacy.suppression import is_suppressed
from retentio.privacy.texts import CONSENT_CHANNELS, PURPOSES, find_text
from retentio.store.tables import Consent, ConsentEvent, Customer, Order
from retentio.store.transactions import begin_write

__all__ = [
    "LAWFUL_BASES",
    "SOURCES",
    "ConsentState",
    "DerivedConsent",
    "apply_event",
    "current_consents",
    "is_marketable",
    "needs_double_opt_in",
    "record_consent",
]

LAWFUL_BASES = ("consent", "soft_opt_in")
#: How a consent event came about.
SOURCES = ("admin", "api", "double_opt_in", "erasure", "form", "import", "link", "pos")


@dataclass(frozen=True)
class DerivedConsent:
    """The state one subject's ledger leads to (what the ``consents`` row holds)."""

    granted: bool
    lawful_basis: str | None
    confirmed_at: datetime | None
    last_event_id: int


@dataclass(frozen=True)
class ConsentState:
    """The current consent of a customer for a channel and purpose."""

    customer: str
    channel: str
    purpose: str
    granted: bool
    lawful_basis: str | None
    confirmed_at: datetime | None
    updated_at: datetime | None

    @property
    def status(self) -> str:
        """``granted`` (effective), ``pending`` (awaiting double opt-in) or ``withdrawn``."""
        if not self.granted:
            return "withdrawn"
        return "granted" if self.confirmed_at is not None else "pending"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: customer, channel, purpose, status, granted, lawful_basis,
        confirmed_at, updated_at."""
        return {
            "customer": self.customer,
            "channel": self.channel,
            "purpose": self.purpose,
            "status": self.status,
            "granted": self.granted,
            "lawful_basis": self.lawful_basis,
            "confirmed_at": iso(self.confirmed_at),
            "updated_at": iso(self.updated_at),
        }


def needs_double_opt_in(channel: str, purpose: str, lawful_basis: str | None) -> bool:
    """Whether a grant counts only after a confirmation: e-mail marketing by consent."""
    return channel == "email" and purpose == "marketing" and lawful_basis == "consent"


def apply_event(previous: DerivedConsent | None, event: ConsentEvent) -> DerivedConsent:
    """The state after ``event`` (domain rule: no I/O)."""
    at = event.recorded_at
    if not event.granted:
        return DerivedConsent(False, None, None, event.id)
    if event.is_confirmation:
        if previous is None or not previous.granted:  # withdrawn meanwhile: stays withdrawn
            return DerivedConsent(False, None, None, event.id)
        return DerivedConsent(True, previous.lawful_basis, previous.confirmed_at or at, event.id)
    if needs_double_opt_in(event.channel, event.purpose, event.lawful_basis):
        already = (
            previous is not None
            and previous.granted
            and previous.lawful_basis == "consent"
            and previous.confirmed_at is not None
        )
        kept = previous.confirmed_at if already and previous is not None else None
        return DerivedConsent(True, event.lawful_basis, kept, event.id)
    return DerivedConsent(True, event.lawful_basis, at, event.id)


def _check(field: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConsentError(f"{field} must be one of {', '.join(choices)}, got {value!r}")


def _short(field: str, value: str | None, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise ConsentError(f"{field} must be at most {limit} characters")
    if value is not None and "\x00" in value:
        raise ConsentError(f"{field} must not contain NUL characters")
    return value


def _has_order(session: Session, customer_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Order.customer_id == customer_id))))


def _objected(session: Session, customer_id: int, channel: str, purpose: str) -> bool:
    query = exists().where(
        ConsentEvent.customer_id == customer_id,
        ConsentEvent.channel == channel,
        ConsentEvent.purpose == purpose,
        ConsentEvent.granted.is_(False),
    )
    return bool(session.scalar(select(query)))


def lock_customer(session: Session, customer: Customer) -> None:
    """One consent writer per customer at a time (PostgreSQL: a row lock; SQLite: BEGIN
    IMMEDIATE), so two first grants cannot both insert the consents row, and a check made
    after this holds until the commit."""
    begin_write(session)
    session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())


def append_event(
    session: Session,
    customer: Customer,
    *,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    recorded_by: str,
    now: datetime,
    lawful_basis: str | None = None,
    is_confirmation: bool = False,
    text_id: int | None = None,
    source_detail: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> Consent:
    """Append one ledger event and update the current row (flushed, not committed)."""
    lock_customer(session, customer)
    current = session.get(
        Consent, (customer.id, channel, purpose), with_for_update=True, populate_existing=True
    )
    event = ConsentEvent(
        customer_id=customer.id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        is_confirmation=is_confirmation,
        lawful_basis=lawful_basis if granted else None,
        source=source,
        source_detail=_short("source_detail", source_detail, 500),
        text_id=text_id,
        ip_address=_short("ip_address", ip_address, 45),
        user_agent=_short("user_agent", (user_agent or None) and user_agent[:500], 500),
        recorded_by=_short("recorded_by", recorded_by, 200) or "unknown",
        recorded_at=now,
    )
    session.add(event)
    session.flush()
    previous = None
    if current is not None:
        previous = DerivedConsent(
            current.granted,
            current.lawful_basis,
            current.confirmed_at,
            current.last_event_id,
        )
    state = apply_event(previous, event)
    if current is None:
        current = Consent(customer_id=customer.id, channel=channel, purpose=purpose)
        session.add(current)
    current.granted = state.granted
    current.lawful_basis = state.lawful_basis
    current.confirmed_at = state.confirmed_at
    current.last_event_id = state.last_event_id
    current.updated_at = now
    session.flush()
    return current


def record_consent(
    session: Session,
    *,
    customer: str,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    recorded_by: str,
    lawful_basis: str = "consent",
    source_detail: str | None = None,
    text_version: str | None = None,
    language: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> ConsentState:
    """Append a grant or withdrawal to the ledger and update the current state (committed).

    A grant on the basis of ``consent`` names the published text shown (``text_version`` and
    ``language``); ``soft_opt_in`` is refused unless the customer has an order and never
    objected. E-mail marketing by consent stays ``pending`` until the double opt-in is
    confirmed (see :mod:`retentio.privacy.optin`).
    """
    _check("channel", channel, CONSENT_CHANNELS)
    _check("purpose", purpose, PURPOSES)
    _check("source", source, SOURCES)
    if granted:
        _check("lawful_basis", lawful_basis, LAWFUL_BASES)
    row = find_customer(session, customer)
    if row.erased_at is not None:
        raise ConsentError(f"customer {customer!r} has been erased")
    text_id = None
    if text_version is not None or language is not None:
        if text_version is None or language is None:
            raise ConsentError("text_version and language go together")
        text = find_text(session, text_version, language)
        if (text.channel, text.purpose) != (channel, purpose):
            raise ConsentError(
                f"text_version: {text_version!r} is a {text.channel} {text.purpose} text, "
                f"not {channel} {purpose}"
            )
        text_id = text.id
    if granted and lawful_basis == "consent" and text_id is None:
        raise ConsentError("text_version: a consent must name the published text that was shown")
    if granted and lawful_basis == "soft_opt_in":
        if purpose != "marketing" or channel not in ("email", "sms"):
            raise ConsentError("lawful_basis: soft_opt_in covers only e-mail and SMS marketing")
        if not _has_order(session, row.id):
            raise ConsentError(
                f"lawful_basis: soft_opt_in needs an order of customer {customer!r}; "
                "ask for consent instead"
            )
        if _objected(session, row.id, channel, purpose):
            raise ConsentError(
                f"lawful_basis: customer {customer!r} withdrew {channel} {purpose} before; "
                "soft_opt_in no longer applies, only a new consent"
            )
    current = append_event(
        session,
        row,
        channel=channel,
        purpose=purpose,
        granted=granted,
        lawful_basis=lawful_basis,
        source=source,
        source_detail=source_detail,
        text_id=text_id,
        ip_address=ip_address,
        user_agent=user_agent,
        recorded_by=recorded_by,
        now=utc_now(now),
    )
    state = state_of(row, current)
    session.commit()
    return state


def state_of(customer: Customer, row: Consent) -> ConsentState:
    """The public view of a ``consents`` row."""
    return ConsentState(
        customer.external_id,
        row.channel,
        row.purpose,
        row.granted,
        row.lawful_basis,
        row.confirmed_at,
        row.updated_at,
    )


def current_consents(session: Session, customer: str) -> list[ConsentState]:
    """The customer's current consents, by channel and purpose."""
    row = find_customer(session, customer)
    query = (
        select(Consent)
        .where(Consent.customer_id == row.id)
        .order_by(Consent.channel, Consent.purpose)
    )
    return [state_of(row, consent) for consent in session.scalars(query)]


def is_marketable(
    session: Session, secret: bytes, customer: str, channel: str, purpose: str = "marketing"
) -> bool:
    """Whether ``customer`` may get ``purpose`` messages on ``channel`` now.

    True only with an effective grant (e-mail marketing: double opt-in confirmed, or soft opt-in),
    an address for the channel that is not on the suppression list, and no erasure.
    """
    row = find_customer(session, customer)
    if row.erased_at is not None:
        return False
    consent = session.get(Consent, (row.id, channel, purpose))
    if consent is None or not consent.granted or consent.confirmed_at is None:
        return False
    address = {"email": row.email, "sms": row.phone}.get(channel)
    if channel in ("email", "sms"):
        if not address:
            return False
        try:
            return not is_suppressed(
                session, secret, channel=channel, address=address, region=row.country
            )
        except DataError:  # an address that cannot be normalised cannot be sent to
            return False
    return True
