"""Surveys in the store: save (or replace) a definition, list, find and archive them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retentio.core.errors import RetentioError
from retentio.feedback.surveys import SurveyDefinition, SurveyError, parse_survey
from retentio.privacy.errors import NotFoundError
from retentio.store.feedback_tables import Survey, SurveyResponse
from retentio.store.transactions import begin_write

__all__ = [
    "SURVEY_STATUSES",
    "SavedSurvey",
    "SurveyConflict",
    "SurveyNotFound",
    "archive_survey",
    "find_survey",
    "list_surveys",
    "save_survey",
]

#: A survey is ``active`` (it can be asked and answered) or ``archived`` (neither).
SURVEY_STATUSES = ("active", "archived")


class SurveyNotFound(NotFoundError):
    """No survey of that id or name (the API answers 404)."""


class SurveyConflict(RetentioError):
    """What a survey's state or the customer's recent surveys do not allow now (the API
    answers 409); nothing was changed."""


@dataclass(frozen=True, slots=True)
class SavedSurvey:
    """A stored survey: its id, checked definition, the definition as given, its status."""

    id: int
    definition: SurveyDefinition
    source: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def kind(self) -> str:
        return self.definition.kind

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = self.definition
        return {
            "id": self.id,
            "name": d.name,
            "kind": d.kind,
            "description": d.description,
            "status": self.status,
            "throttle_days": d.throttle_days,
            "default_locale": d.default_locale,
            "questions": [q.id for q in d.questions],
            "definition": self.source,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _saved(row: Survey) -> SavedSurvey:
    return SavedSurvey(
        row.id,
        parse_survey(row.definition),
        dict(row.definition),
        row.status,
        row.created_at,
        row.updated_at,
    )


def _json(data: Any) -> dict[str, Any]:
    """The definition as stored: JSON values only (a YAML date in it is refused by name)."""
    try:
        stored: dict[str, Any] = json.loads(json.dumps(data))
    except (TypeError, ValueError) as exc:
        raise SurveyError("(definition)", f"JSON values only: {exc}") from None
    return stored


def save_survey(session: Session, data: Any, *, now: datetime) -> tuple[SavedSurvey, bool]:
    """Check ``data`` and store it (committed): a new survey, or the new definition of the
    one with its name, active again if it was archived. Returns the survey and whether it was
    created. A survey with answers keeps its kind (a :class:`SurveyConflict` otherwise: its
    NPS answers would be read as CSAT)."""
    definition = parse_survey(data)
    stored = _json(data)
    for _attempt in range(3):  # two first saves of one name at once: the second replaces
        begin_write(session)
        row = session.scalars(
            select(Survey).where(Survey.name == definition.name).with_for_update()
        ).one_or_none()
        created = row is None
        if row is None:
            row = Survey(name=definition.name, created_at=now)
            session.add(row)
        elif row.kind != definition.kind and _answered(session, row.id):
            session.rollback()
            raise SurveyConflict(
                f"survey {definition.name!r} has answers as a {row.kind} survey; its kind "
                f"cannot become {definition.kind} (save it under a new name)"
            )
        row.kind = definition.kind
        row.definition = stored
        row.throttle_days = definition.throttle_days
        row.status = "active"
        row.updated_at = now
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return _saved(row), created
    raise SurveyConflict(f"survey {definition.name!r} is being saved by others; try again")


def _answered(session: Session, survey_id: int) -> bool:
    first = select(SurveyResponse.id).where(SurveyResponse.survey_id == survey_id).limit(1)
    return session.scalar(first) is not None


def _row(session: Session, survey: int | str) -> Survey:
    """The survey of that id (a number, or digits) or name."""
    if isinstance(survey, int) or survey.isdigit():
        number = int(survey)
        row = session.get(Survey, number, populate_existing=True) if number < 2**31 else None
    else:
        row = session.scalars(select(Survey).where(Survey.name == survey)).one_or_none()
    if row is None:
        raise SurveyNotFound(f"no survey {survey!r}")
    return row


def find_survey(session: Session, survey: int | str) -> SavedSurvey:
    """The survey of that id or name; a :class:`SurveyNotFound` otherwise."""
    return _saved(_row(session, survey))


def list_surveys(session: Session, *, status: str | None = None) -> list[SavedSurvey]:
    """The surveys by name, of one status (``active``, ``archived``) or all."""
    query = select(Survey).order_by(Survey.name)
    if status is not None:
        if status not in SURVEY_STATUSES:
            raise SurveyError("status", f"one of {', '.join(SURVEY_STATUSES)}, not {status!r}")
        query = query.where(Survey.status == status)
    return [_saved(row) for row in session.scalars(query)]


def archive_survey(session: Session, survey: int | str, *, now: datetime) -> SavedSurvey:
    """Archive the survey (committed): it is asked and answered no more; its answers stay.
    Archiving it again changes nothing; saving its definition again makes it active."""
    begin_write(session)
    row = _row(session, survey)
    if row.status != "archived":
        row.status = "archived"
        row.updated_at = now
    session.commit()
    return _saved(row)
