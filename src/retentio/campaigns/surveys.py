"""A campaign's or journey step's survey (``survey: <name>`` in its definition): the delivery
worker puts a signed link to the survey in the message, ``{{ survey_url }}`` and one per
score, ``{{ survey_score_urls[9] }}``, and skips a customer who answered or was sent a survey
within the survey's ``throttle_days`` (docs/feedback.md).

The tokens are those of :mod:`retentio.feedback.links` (purpose ``survey``; the survey, the
customer, the message and the customer's locale), made here because campaigns may not import
the feedback package; a test holds the two to one format. Sending a survey message is what
counts as asking (``retentio.store.survey_contacts``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.core.signing import Signer
from retentio.store.feedback_tables import Survey
from retentio.store.survey_contacts import SurveyContact, survey_contacts

__all__ = [
    "SURVEY_LINK_PURPOSE",
    "SURVEY_LINK_TTL",
    "SurveyAsks",
    "missing_surveys",
    "survey_preview",
]

#: The purpose of the tokens (``retentio.feedback.links`` reads them).
SURVEY_LINK_PURPOSE = "survey"
#: How long the link in a message works.
SURVEY_LINK_TTL = timedelta(days=30)
#: The scores of each kind of survey (a custom survey has none).
_SCORES = {"nps": (0, 10), "csat": (1, 5)}


def missing_surveys(session: Session, names: Collection[str]) -> list[str]:
    """Those of ``names`` that are not active surveys, sorted."""
    if not names:
        return []
    active = session.scalars(
        select(Survey.name).where(Survey.name.in_(sorted(names)), Survey.status == "active")
    )
    return sorted(set(names) - set(active))


def _score_urls(url: str, kind: str) -> dict[int, str]:
    low, high = _SCORES.get(kind, (0, -1))
    return {score: f"{url}?score={score}" for score in range(low, high + 1)}


def survey_preview(name: str | None, base_url: str) -> dict[str, Any]:
    """A preview's survey links: to a page that records nothing (``/f/preview``)."""
    if name is None:
        return {}
    url = f"{base_url.rstrip('/')}/f/preview"
    return {"survey_url": url, "survey_score_urls": _score_urls(url, "nps")}


@dataclass(frozen=True, slots=True)
class _Survey:
    id: int
    kind: str
    throttle_days: int


class SurveyAsks:
    """The surveys one batch's messages carry, and when its customers were last surveyed."""

    def __init__(
        self, surveys: dict[str, _Survey], contacts: dict[int, list[SurveyContact]], now: datetime
    ) -> None:
        self._surveys, self._contacts, self._now = surveys, contacts, now

    @classmethod
    def load(
        cls, session: Session, names: Collection[str], customer_ids: Collection[int], now: datetime
    ) -> SurveyAsks:
        """The active surveys among ``names`` and the customers' surveys in the longest of
        their windows (nothing is read without a name)."""
        if not names:
            return cls({}, {}, now)
        rows = session.execute(
            select(Survey.name, Survey.id, Survey.kind, Survey.throttle_days).where(
                Survey.name.in_(sorted(names)), Survey.status == "active"
            )
        )
        surveys = {name: _Survey(i, kind, days) for name, i, kind, days in rows}
        longest = max((s.throttle_days for s in surveys.values()), default=0)
        contacts = (
            survey_contacts(session, customer_ids, now - timedelta(days=longest)) if longest else {}
        )
        return cls(surveys, contacts, now)

    def refusal(self, customer_id: int, name: str) -> str | None:
        """Why the customer must not be asked ``name`` now, or None."""
        survey = self._surveys.get(name)
        if survey is None:
            return f"survey {name!r} is not active"
        if survey.throttle_days == 0:
            return None
        since = self._now - timedelta(days=survey.throttle_days)
        for contact in self._contacts.get(customer_id, []):
            if contact.at >= since:
                verb = "answered" if contact.how == "answered" else "was sent"
                return (
                    f"surveyed within {survey.throttle_days} days ({verb} {contact.survey!r} "
                    f"on {contact.at:%Y-%m-%d})"
                )
        return None

    def sent(self, customer_id: int, name: str, at: datetime, delivery_id: int) -> None:
        """A survey message went: the customer's other survey messages wait their turn."""
        contact = SurveyContact(customer_id, "asked", name, at, str(delivery_id))
        self._contacts.setdefault(customer_id, []).insert(0, contact)

    def values(
        self,
        signer: Signer,
        public_url: str,
        name: str,
        *,
        customer_id: int,
        delivery_id: int,
        locale: str | None,
    ) -> dict[str, Any]:
        """The message's survey links: ``survey_url`` and ``survey_score_urls`` (by score;
        empty for a custom survey)."""
        survey = self._surveys[name]
        data: dict[str, object] = {"s": survey.id, "c": customer_id, "m": delivery_id}
        if locale:
            data["l"] = locale[:35]
        token = signer.sign(SURVEY_LINK_PURPOSE, data, SURVEY_LINK_TTL)
        url = f"{public_url.rstrip('/')}/f/{token}"
        return {"survey_url": url, "survey_score_urls": _score_urls(url, survey.kind)}
