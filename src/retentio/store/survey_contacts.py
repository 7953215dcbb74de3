"""When each customer was last surveyed: the answers they gave and the survey messages they
were sent (a sent delivery of a campaign or journey step whose definition names a ``survey``).
Surveys (``retentio.feedback``) and the delivery worker (``retentio.campaigns``) both throttle
on it, so it lives here, below both."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from retentio.store.campaign_tables import Campaign, Delivery
from retentio.store.feedback_tables import Survey, SurveyResponse

__all__ = ["SurveyContact", "survey_contacts"]

_RESPONSES: Table = SurveyResponse.__table__  # type: ignore[assignment]
_SURVEYS: Table = Survey.__table__  # type: ignore[assignment]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_CAMPAIGNS: Table = Campaign.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class SurveyContact:
    """A customer ``answered`` a survey, or was ``asked`` (sent a message carrying it)."""

    customer_id: int
    how: str
    survey: str
    at: datetime
    #: The response's key (answered) or the delivery's id (asked).
    ref: str


def survey_contacts(
    session: Session, customer_ids: Collection[int], since: datetime
) -> dict[int, list[SurveyContact]]:
    """Each customer's answers and survey messages from ``since`` on, newest first (customers
    without any are left out)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    r, s = _RESPONSES.c, _SURVEYS.c
    answered = (
        select(r.customer_id, s.name, r.responded_at, r.key)
        .join(_SURVEYS, s.id == r.survey_id)
        .where(r.customer_id.in_(ids), r.responded_at >= since)
    )
    d, c = _DELIVERIES.c, _CAMPAIGNS.c
    named: Any = c.definition["survey"].as_string()
    asked = (
        select(d.customer_id, named, d.sent_at, d.id)
        .join(_CAMPAIGNS, c.id == d.campaign_id)
        .where(
            d.customer_id.in_(ids),
            d.status == "sent",
            d.sent_at >= since,
            named.is_not(None),
        )
    )
    found: dict[int, list[SurveyContact]] = {}
    for how, query in (("answered", answered), ("asked", asked)):
        for customer, survey, at, ref in session.execute(query):
            contact = SurveyContact(customer, how, str(survey), at, str(ref))
            found.setdefault(customer, []).append(contact)
    for contacts in found.values():
        contacts.sort(key=lambda contact: contact.at, reverse=True)
    return found
