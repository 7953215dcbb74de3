"""A survey's report: its NPS or CSAT now and per period, or for a custom survey how each
question was answered. The answers are read in bulk (:mod:`retentio.store.feedback_arrow`)
and counted by :mod:`retentio.analytics.feedback`."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retentio.analytics.feedback import (
    csat,
    csat_over_time,
    nps,
    nps_over_time,
    responses_over_time,
)
from retentio.analytics.periods import check_period
from retentio.feedback.service import SavedSurvey
from retentio.feedback.surveys import SurveyDefinition
from retentio.store.feedback_arrow import read_survey_responses
from retentio.store.feedback_tables import SurveyResponse

__all__ = ["question_summary", "survey_report"]


def _plain(value: Any) -> Any:
    """A JSON-ready value: NaN as None, numpy numbers as Python's, timestamps as dates."""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in table.to_dict("records")]


def question_summary(
    definition: SurveyDefinition, answers: Iterable[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """How each question was answered: ``answered`` (how many gave one), and per choice
    question the count of each option, per scale question the ``average``."""
    answered: Counter[str] = Counter()
    options: dict[str, Counter[str]] = {q.id: Counter() for q in definition.questions}
    totals: dict[str, float] = {q.id: 0.0 for q in definition.questions}
    for given in answers:
        for question in definition.questions:
            value = given.get(question.id)
            if value is None:
                continue
            answered[question.id] += 1
            if question.type == "choice":
                options[question.id].update(value if isinstance(value, list) else [value])
            elif question.type == "scale" and isinstance(value, int | float):
                totals[question.id] += value
    summary: dict[str, dict[str, Any]] = {}
    for question in definition.questions:
        count = answered[question.id]
        entry: dict[str, Any] = {"type": question.type, "answered": count}
        if question.type == "choice":
            entry["options"] = {o.id: options[question.id][o.id] for o in question.options}
        if question.type == "scale":
            entry["average"] = totals[question.id] / count if count else None
        summary[question.id] = entry
    return summary


def survey_report(
    session: Session,
    engine: Engine,
    survey: SavedSurvey,
    *,
    period: str = "M",
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """The report of ``survey``: ``summary`` (NPS: responses, promoters, passives,
    detractors, nps; CSAT: responses, satisfied, csat, average_score; custom: responses),
    ``over_time`` (the same per period, from ``start`` to ``end`` or the first to the last
    answer) and, for a survey with questions, ``questions`` (:func:`question_summary`)."""
    key = check_period(period)
    report: dict[str, Any] = {
        "survey": survey.name,
        "kind": survey.kind,
        "period": key,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }
    answers = read_survey_responses(engine, survey=survey.id)
    if survey.kind == "nps":
        report["summary"] = nps(answers, start=start, end=end).to_dict()
        report["over_time"] = _rows(nps_over_time(answers, key, start=start, end=end))
    elif survey.kind == "csat":
        report["summary"] = csat(answers, start=start, end=end).to_dict()
        report["over_time"] = _rows(csat_over_time(answers, key, start=start, end=end))
    else:
        counted = responses_over_time(answers, key, start=start, end=end)
        report["summary"] = {"responses": int(counted["responses"].sum())}
        report["over_time"] = _rows(counted)
    if survey.definition.questions:
        r = SurveyResponse
        query = select(r.answers).where(r.survey_id == survey.id)
        if start is not None:
            query = query.where(r.responded_at >= _midnight(start))
        if end is not None:
            query = query.where(r.responded_at < _midnight(end) + timedelta(days=1))
        given = [dict(a) for a in session.scalars(query)]
        session.rollback()  # end the read
        report["questions"] = question_summary(survey.definition, given)
    return report


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
