"""Answers to surveys: recorded once per key, throttled per person, told to journeys.

A response is one transaction: the customer's row is locked (PostgreSQL: a row lock; SQLite:
``BEGIN IMMEDIATE``), the key looked up (a repeat returns the first response and changes
nothing), the throttle checked, the response and its ``survey_answered`` event written and
committed together, so a journey that closes the loop (a follow-up for detractors, a review
ask for promoters) never misses an answer nor sees one twice.

**Throttling.** A survey's ``throttle_days`` (default 90) bounds how often one person is
surveyed, across every survey. An answer is refused (:class:`SurveyThrottled`) when the
person answered any survey, or was sent another survey, within the survey's
``throttle_days`` before it; the message that asked this very survey does not count against
its own answer. :func:`can_ask` tells the campaign engine whether to ask: not when the person
answered or was sent any survey in the window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.feedback.answers import AnswerError, check_answer, score_properties
from retentio.feedback.service import SavedSurvey, SurveyConflict, find_survey
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id
from retentio.store.feedback_tables import Survey, SurveyResponse
from retentio.store.survey_contacts import SurveyContact, survey_contacts
from retentio.store.tables import Customer, Event
from retentio.store.transactions import begin_write

__all__ = [
    "RESPONSE_SOURCES",
    "SURVEY_ANSWERED",
    "Recorded",
    "SurveyThrottled",
    "can_ask",
    "list_responses",
    "record_response",
]

#: Where an answer came from: the API, an embed on the shop's site, an import, a signed
#: link, or the link in a campaign's or journey's message.
RESPONSE_SOURCES = ("api", "embed", "import", "link", "message")
#: The event every answer writes (properties: survey, kind, score, category or satisfied,
#: source, response).
SURVEY_ANSWERED = "survey_answered"
_KEY_LENGTH = 300  # survey_responses.key


class SurveyThrottled(SurveyConflict):
    """The person was surveyed within the survey's ``throttle_days``; ``contact`` says when
    and how."""

    def __init__(self, message: str, contact: SurveyContact) -> None:
        super().__init__(message)
        self.contact = contact


@dataclass(frozen=True, slots=True)
class Recorded:
    """A stored response (or the first one, ``repeated``, for a key seen before)."""

    id: int
    survey: str
    kind: str
    customer: str
    score: int | None
    answers: dict[str, Any]
    comment: str | None
    source: str
    delivery_id: int | None
    responded_at: datetime
    repeated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields, and the score's ``category`` (NPS) or ``satisfied`` (CSAT)."""
        return {
            "id": self.id,
            "survey": self.survey,
            "kind": self.kind,
            "customer": self.customer,
            "score": self.score,
            "category": None,
            "satisfied": None,
            **score_properties(self.kind, self.score),
            "answers": self.answers,
            "comment": self.comment,
            "source": self.source,
            "delivery_id": self.delivery_id,
            "responded_at": self.responded_at.isoformat(),
            "repeated": self.repeated,
        }


def _recorded(
    row: SurveyResponse, survey: SavedSurvey, customer: str, *, repeated: bool
) -> Recorded:
    return Recorded(
        id=row.id,
        survey=survey.name,
        kind=survey.kind,
        customer=customer,
        score=row.score,
        answers=dict(row.answers or {}),
        comment=row.comment,
        source=row.source,
        delivery_id=row.delivery_id,
        responded_at=row.responded_at,
        repeated=repeated,
    )


def _stored_key(survey_id: int, customer_id: int, key: str) -> str:
    """The key as stored: scoped to the survey and the customer (one client's key never
    meets another's), hashed when it would be too long."""
    if not key or "\x00" in key or len(key) > 255:
        raise AnswerError("key", "1 to 255 characters, no NUL")
    scoped = f"{survey_id}:{customer_id}:{key}"
    if len(scoped) > _KEY_LENGTH:
        scoped = f"{survey_id}:{customer_id}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return scoped


def _customer(session: Session, customer: str | int) -> Customer:
    row = (
        session.get(Customer, customer)
        if isinstance(customer, int)
        else customer_by_external_id(session, customer)
    )
    if row is None or row.erased_at is not None:
        raise NotFoundError(f"no customer {customer!r}")
    return row


def _blocking(
    contacts: Sequence[SurveyContact], survey: str, *, asking: bool
) -> SurveyContact | None:
    """The contact that throttles: any, when asking; when answering, an answer to any
    survey or a message of another survey (the message that asked this one is its own)."""
    for contact in contacts:  # newest first
        if asking or contact.how == "answered" or contact.survey != survey:
            return contact
    return None


def _throttle_message(contact: SurveyContact, days: int) -> str:
    verb = "answered" if contact.how == "answered" else "was sent"
    return (
        f"the customer {verb} survey {contact.survey!r} on {contact.at:%Y-%m-%d}; "
        f"one survey per {days} days"
    )


def record_response(
    session: Session,
    survey: SavedSurvey,
    customer: str | int,
    score: Any,
    answers: Mapping[str, Any] | None,
    comment: Any,
    source: str,
    key: str,
    now: datetime,
    delivery_id: int | None = None,
) -> Recorded:
    """Record ``customer``'s answer to ``survey`` (committed) and its ``survey_answered``
    event, once per ``key``: a repeat returns the first response (``repeated``) and changes
    nothing.

    ``customer`` is the shop's id (text) or the store's (a number, from a signed link).
    An answer the survey cannot take is an :class:`AnswerError` naming the field; an archived
    survey a :class:`SurveyConflict`; a person surveyed within the survey's
    ``throttle_days`` a :class:`SurveyThrottled`; an unknown or erased customer a
    NotFoundError. None of them writes anything.
    """
    if source not in RESPONSE_SOURCES:
        raise AnswerError("source", f"one of {', '.join(RESPONSE_SOURCES)}, not {source!r}")
    checked = check_answer(survey.definition, score, answers, comment)
    row = _customer(session, customer)  # before the write lock: an unknown one takes none
    stored_key = _stored_key(survey.id, row.id, key)
    begin_write(session)
    session.execute(select(Customer.id).where(Customer.id == row.id).with_for_update())
    found = session.scalars(
        select(SurveyResponse).where(SurveyResponse.key == stored_key)
    ).one_or_none()
    if found is not None:
        session.rollback()
        return _recorded(found, survey, row.external_id, repeated=True)
    current = session.get(Survey, survey.id, populate_existing=True)
    if current is None or current.status != "active":
        session.rollback()
        raise SurveyConflict(f"survey {survey.name!r} is archived: it takes no answers")
    days = current.throttle_days
    if days > 0:
        contacts = survey_contacts(session, [row.id], now - timedelta(days=days))
        blocking = _blocking(contacts.get(row.id, []), survey.name, asking=False)
        if blocking is not None:
            session.rollback()
            raise SurveyThrottled(_throttle_message(blocking, days), blocking)
    response = SurveyResponse(
        survey_id=survey.id,
        customer_id=row.id,
        score=checked.score,
        answers=checked.answers,
        comment=checked.comment,
        source=source,
        delivery_id=delivery_id,
        key=stored_key,
        responded_at=now,
    )
    session.add(response)
    try:
        session.flush()
    except IntegrityError:  # the same key at the same moment: the first one stands
        session.rollback()
        return _repeat(session, stored_key, survey, row.external_id)
    properties: dict[str, Any] = {
        "survey": survey.name,
        "kind": survey.kind,
        "score": checked.score,
        **score_properties(survey.kind, checked.score),
        "source": source,
        "response": response.id,
    }
    session.add(
        Event(
            external_id=f"feedback:{SURVEY_ANSWERED}:{response.id}",
            customer_id=row.id,
            name=SURVEY_ANSWERED,
            properties=properties,
            occurred_at=now,
        )
    )
    session.commit()
    return _recorded(response, survey, row.external_id, repeated=False)


def _repeat(session: Session, stored_key: str, survey: SavedSurvey, customer: str) -> Recorded:
    found = session.scalars(select(SurveyResponse).where(SurveyResponse.key == stored_key)).one()
    session.rollback()
    return _recorded(found, survey, customer, repeated=True)


def can_ask(session: Session, survey: SavedSurvey, customer: str | int, now: datetime) -> bool:
    """Whether ``customer`` may be asked ``survey`` now: it is active, the customer exists
    and is not erased, and they neither answered nor were sent any survey within its
    ``throttle_days``."""
    current = session.get(Survey, survey.id, populate_existing=True)
    if current is None or current.status != "active":
        return False
    try:
        row = _customer(session, customer)
    except NotFoundError:
        return False
    if current.throttle_days == 0:
        return True
    since = now - timedelta(days=current.throttle_days)
    contacts = survey_contacts(session, [row.id], since).get(row.id, [])
    return _blocking(contacts, survey.name, asking=True) is None


def list_responses(
    session: Session,
    survey: int | str,
    *,
    after: int = 0,
    limit: int = 100,
    customer: str | None = None,
) -> list[Recorded]:
    """The survey's responses in the order they came (ids above ``after``), ``limit`` at a
    time; only ``customer``'s when given."""
    saved = find_survey(session, survey)
    r, c = SurveyResponse, Customer
    query = (
        select(r, c.external_id)
        .join(c, c.id == r.customer_id)
        .where(r.survey_id == saved.id, r.id > after)
        .order_by(r.id)
        .limit(limit)
    )
    if customer is not None:
        query = query.where(c.external_id == customer)
    return [
        _recorded(row, saved, external_id, repeated=False)
        for row, external_id in session.execute(query)
    ]
