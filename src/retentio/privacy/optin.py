"""Double opt-in for e-mail marketing: a pending consent, a single-use expiring confirmation.

The token is 256 random bits; only its SHA-256 is stored (``consent_confirmations``). Confirming
marks the row used with one conditional UPDATE (``used_at IS NULL AND expires_at > now``), so of
two simultaneous confirmations exactly one wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from retentio.core.signing import TokenError
from retentio.privacy._shared import find_customer, iso, utc_now
from retentio.privacy.consent import (
    ConsentState,
    append_event,
    lock_customer,
    record_consent,
    state_of,
)
from retentio.privacy.texts import normalise_language
from retentio.store.tables import Consent, ConsentConfirmation, ConsentEvent, Customer
from retentio.store.transactions import begin_write

__all__ = [
    "CONFIRMATION_TTL",
    "ConfirmationMessage",
    "PendingOptIn",
    "confirm_double_opt_in",
    "confirmation_message",
    "start_double_opt_in",
]

#: How long a confirmation link works.
CONFIRMATION_TTL = timedelta(days=3)


@dataclass(frozen=True)
class PendingOptIn:
    """A started double opt-in: ``token`` goes into the confirmation link, shown only now."""

    token: str
    expires_at: datetime
    consent: ConsentState

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready keys: token, expires_at, consent."""
        return {
            "token": self.token,
            "expires_at": iso(self.expires_at),
            "consent": self.consent.to_dict(),
        }


@dataclass(frozen=True)
class ConfirmationMessage:
    """The confirmation e-mail: a subject and a plain-text body, no advertising."""

    language: str
    subject: str
    body: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready keys: language, subject, body."""
        return {"language": self.language, "subject": self.subject, "body": self.body}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_double_opt_in(
    session: Session,
    *,
    customer: str,
    text_version: str,
    language: str,
    source: str,
    recorded_by: str,
    source_detail: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    ttl: timedelta = CONFIRMATION_TTL,
    now: datetime | None = None,
) -> PendingOptIn:
    """Record a pending e-mail marketing consent and issue its confirmation token (committed)."""
    at = utc_now(now)
    state = record_consent(
        session,
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=True,
        lawful_basis="consent",
        source=source,
        source_detail=source_detail,
        text_version=text_version,
        language=language,
        ip_address=ip_address,
        user_agent=user_agent,
        recorded_by=recorded_by,
        now=at,
    )
    row = find_customer(session, customer)
    consent = session.get(Consent, (row.id, "email", "marketing"))
    assert consent is not None  # noqa: S101 - recorded just above
    token = secrets.token_urlsafe(32)
    expires = at + ttl
    session.add(
        ConsentConfirmation(
            token_sha256=_digest(token),
            customer_id=row.id,
            channel="email",
            purpose="marketing",
            consent_event_id=consent.last_event_id,
            created_at=at,
            expires_at=expires,
        )
    )
    session.commit()
    return PendingOptIn(token, expires, state)


def _refusal(session: Session, digest: str, at: datetime) -> TokenError:
    row = session.scalars(
        select(ConsentConfirmation).where(ConsentConfirmation.token_sha256 == digest)
    ).one_or_none()
    if row is None:
        return TokenError("unknown", "the confirmation link is unknown")
    if row.used_at is not None:
        return TokenError("used", "the confirmation link has already been used")
    expires = row.expires_at
    if expires is not None and expires <= at:
        return TokenError("expired", f"the confirmation link expired at {expires:%Y-%m-%d %H:%M}")
    return TokenError("used", "the confirmation link has already been used")  # pragma: no cover


def confirm_double_opt_in(
    session: Session,
    token: str,
    *,
    ip_address: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> ConsentState:
    """Confirm the pending consent of ``token`` (committed); a TokenError when the token is
    unknown, used or expired. A consent withdrawn since the link was sent stays withdrawn."""
    at = utc_now(now)
    digest = _digest(token) if len(token) <= 200 else ""
    begin_write(session)
    claimed = session.execute(
        update(ConsentConfirmation)
        .where(
            ConsentConfirmation.token_sha256 == digest,
            ConsentConfirmation.used_at.is_(None),
            ConsentConfirmation.expires_at > at,
        )
        .values(used_at=at)
        .returning(ConsentConfirmation.id)
    ).all()
    if len(claimed) != 1:
        session.rollback()
        raise _refusal(session, digest, at)
    row = session.get_one(ConsentConfirmation, claimed[0][0])
    customer = session.get_one(Customer, row.customer_id)
    # Read the consent under the customer's lock: a withdrawal committed meanwhile stays.
    lock_customer(session, customer)
    pending = session.get_one(ConsentEvent, row.consent_event_id)
    current = session.get(Consent, (customer.id, row.channel, row.purpose), populate_existing=True)
    if current is not None and current.granted and current.confirmed_at is None:
        current = append_event(
            session,
            customer,
            channel=row.channel,
            purpose=row.purpose,
            granted=True,
            is_confirmation=True,
            lawful_basis="consent",
            source="double_opt_in",
            text_id=pending.text_id,
            ip_address=ip_address,
            user_agent=user_agent,
            recorded_by="customer",
            now=at,
        )
    state = None if current is None else state_of(customer, current)
    session.commit()
    if state is None:  # pragma: no cover - a confirmation row always follows a recorded grant
        raise TokenError("unknown", "the confirmation link is unknown")
    return state


_MESSAGES = {
    "da": (
        "Bekræft din tilmelding",
        "Hej\n\nBekræft venligst, at du vil modtage vores nyhedsbrev på e-mail, ved at åbne "
        "dette link:\n\n{url}\n\nHar du ikke bedt om det, kan du se bort fra denne e-mail; "
        "så tilmelder vi dig ikke.",
    ),
    "en": (
        "Please confirm your subscription",
        "Hello\n\nPlease confirm that you want to receive our newsletter by email by opening "
        "this link:\n\n{url}\n\nIf you did not ask for this, ignore this email and you will "
        "not be subscribed.",
    ),
    "nl": (
        "Bevestig je aanmelding",
        "Hallo\n\nBevestig dat je onze nieuwsbrief per e-mail wilt ontvangen door deze link te "
        "openen:\n\n{url}\n\nHeb je hier niet om gevraagd, negeer dan deze e-mail; dan word je "
        "niet aangemeld.",
    ),
}


def confirmation_message(language: str, confirm_url: str) -> ConfirmationMessage:
    """The confirmation e-mail in ``language`` (da, en or nl; English otherwise), no ads."""
    primary = normalise_language(language).split("-")[0]
    chosen = primary if primary in _MESSAGES else "en"
    subject, body = _MESSAGES[chosen]
    return ConfirmationMessage(chosen, subject, body.format(url=confirm_url))
