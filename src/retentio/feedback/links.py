"""Signed survey links: a customer answers without logging in, from a message or a link the
shop embeds.

A link reads ``<base>/f/<token>``; the token (:class:`retentio.core.signing.Signer`, purpose
``survey``) names the survey and the customer by the store's ids (never an address: tokens end
up in logs), the message that carried it and the customer's locale. ``?score=9`` preselects a
score: a message can show one link per score (one-click), and the page then asks for the
optional comment. Opening a link records nothing (link scanners and mail previews fetch links);
sending the page's form does.

The delivery worker (``retentio.campaigns``, which may not import this package) makes the same
tokens for the messages of campaigns and journey steps that name a ``survey``; a test holds
the two to one format.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from retentio.core.signing import Signer, TokenError
from retentio.feedback.service import SavedSurvey

__all__ = [
    "SURVEY_LINK_PURPOSE",
    "SURVEY_LINK_TTL",
    "SurveyLink",
    "read_survey_token",
    "score_links",
    "survey_link",
    "survey_token",
]

SURVEY_LINK_PURPOSE = "survey"
#: How long a survey link works: a month, so a late answer still counts.
SURVEY_LINK_TTL = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SurveyLink:
    """What a verified token names."""

    survey_id: int
    customer_id: int
    delivery_id: int | None
    locale: str | None
    token: str

    @property
    def source(self) -> str:
        """``message`` for the link of a campaign's message, else ``link``."""
        return "message" if self.delivery_id is not None else "link"

    @property
    def key(self) -> str:
        """The response's key: one answer per message, or per link."""
        if self.delivery_id is not None:
            return f"message:{self.delivery_id}"
        return f"link:{hashlib.sha256(self.token.encode()).hexdigest()[:40]}"


def survey_token(
    signer: Signer,
    survey_id: int,
    customer_id: int,
    *,
    ttl: timedelta = SURVEY_LINK_TTL,
    delivery_id: int | None = None,
    locale: str | None = None,
) -> str:
    """A signed token for ``customer_id`` (the store's id) to answer ``survey_id``."""
    data: dict[str, object] = {"s": survey_id, "c": customer_id}
    if delivery_id is not None:
        data["m"] = delivery_id
    if locale:
        data["l"] = locale[:35]
    return signer.sign(SURVEY_LINK_PURPOSE, data, ttl)


def survey_link(
    signer: Signer,
    base_url: str,
    survey: SavedSurvey | int,
    customer: int,
    ttl: timedelta = SURVEY_LINK_TTL,
    *,
    delivery_id: int | None = None,
    locale: str | None = None,
) -> str:
    """The page where ``customer`` (the store's id) answers ``survey`` (a saved survey or its
    id): ``<base_url>/f/<token>``."""
    survey_id = survey if isinstance(survey, int) else survey.id
    token = survey_token(
        signer, survey_id, customer, ttl=ttl, delivery_id=delivery_id, locale=locale
    )
    return f"{base_url.rstrip('/')}/f/{token}"


def score_links(url: str, low: int, high: int) -> dict[int, str]:
    """One-click links: the page with each score from ``low`` to ``high`` preselected."""
    return {score: f"{url}?score={score}" for score in range(low, high + 1)}


def read_survey_token(signer: Signer, token: str) -> SurveyLink:
    """What ``token`` names; a TokenError when it is tampered with, expired or not a survey
    link (nothing is recorded)."""
    data = signer.verify(SURVEY_LINK_PURPOSE, token)
    survey, customer = data.get("s"), data.get("c")
    delivery, locale = data.get("m"), data.get("l")
    if not isinstance(survey, int) or not isinstance(customer, int):
        raise TokenError("malformed", "the token names no survey")  # pragma: no cover
    if delivery is not None and not isinstance(delivery, int):
        raise TokenError("malformed", "the token names no message")  # pragma: no cover
    return SurveyLink(
        survey, customer, delivery, locale if isinstance(locale, str) else None, token
    )
