"""Surveys over the API: save and list them, record and page through answers, the report, and
signed links for the customer's page (docs/feedback.md).

Every POST runs once per Idempotency-Key; an answer is also kept once per ``key`` (the body's,
else the Idempotency-Key) and customer, so a retry without the header changes nothing either.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from retentio.api.body import openapi_body, parse_body, require_empty
from retentio.api.deps import Body, DbSession, Reader, Writer
from retentio.api.idempotency import HEADER, Outcome, run_idempotent
from retentio.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from retentio.api.problems import Problem, problem_responses
from retentio.api.routes.consent import public_url
from retentio.api.survey_schemas import (
    RecordedOut,
    ResponseIn,
    ResponsePage,
    SurveyIn,
    SurveyLinkOut,
    SurveyOut,
    SurveyReportOut,
)
from retentio.core.signing import Signer
from retentio.feedback import (
    SURVEY_LINK_TTL,
    AnswerError,
    SurveyConflict,
    archive_survey,
    find_survey,
    list_responses,
    list_surveys,
    record_response,
    save_survey,
    score_links,
    survey_link,
)
from retentio.feedback.report import survey_report
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(prefix="/surveys", tags=["surveys"])

BODY_MODELS = (SurveyIn, ResponseIn)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)
_READ_ERRORS = problem_responses(401, 403, 404, 422, 429)
Day = Annotated[date | None, Query(ge=date(1900, 1, 1), lt=date(2200, 1, 1))]
Period = Annotated[str, Query(pattern="^(D|W|M|Q|Y)$", description="D, W, M, Q or Y.")]
Status = Annotated[str | None, Query(pattern="^(active|archived)$")]
SurveyId = Annotated[str, "The survey's id, or its name."]


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("", response_model=list[SurveyOut], responses=_READ_ERRORS)
def list_route(session: DbSession, _principal: Reader, status: Status = None) -> Any:
    """The surveys, by name (``status``: only the active or the archived ones)."""
    return [survey.to_dict() for survey in list_surveys(session, status=status)]


@router.post(
    "",
    status_code=201,
    response_model=SurveyOut,
    responses={200: {"model": SurveyOut, "description": "Replaced."}, **_WRITE_ERRORS},
    openapi_extra=openapi_body(SurveyIn),
)
def save_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """Save a survey (201), or replace the definition of the one with its name (200; active
    again if archived). An invalid definition answers 422 with the path of the problem
    (``questions[0].options``); a new kind for a survey with answers 409."""

    def work(_key: str | None) -> Outcome:
        try:
            saved, created = save_survey(session, body.value, now=_now())
        except SurveyConflict as exc:
            raise Problem("conflict", str(exc)) from None
        return Outcome(201 if created else 200, saved.to_dict())

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.get("/{id}", response_model=SurveyOut, responses=_READ_ERRORS)
def get_route(session: DbSession, _principal: Reader, id: SurveyId) -> Any:
    """A survey, by id or name."""
    return find_survey(session, id).to_dict()


@router.post("/{id}/archive", response_model=SurveyOut, responses=_WRITE_ERRORS)
def archive_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    id: SurveyId,
    body: Body,
) -> Any:
    """Archive the survey: no more asking or answering; its answers stay. Send ``{}``."""
    require_empty(body)

    def work(_key: str | None) -> Outcome:
        return Outcome(200, archive_survey(session, id, now=_now()).to_dict())

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.post(
    "/{id}/responses",
    status_code=201,
    response_model=RecordedOut,
    responses={200: {"model": RecordedOut, "description": "A repeat."}, **_WRITE_ERRORS},
    openapi_extra=openapi_body(ResponseIn),
)
def respond_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    id: SurveyId,
    body: Body,
) -> Any:
    """Record a customer's answer (201), once per ``key``: a repeat answers 200 with the first
    answer and ``repeated: true``. A score out of range or an unknown question answers 422
    naming the field; an archived survey, or a customer surveyed within the survey's
    ``throttle_days``, 409; an unknown customer 404."""
    given = parse_body(ResponseIn, body.value)
    key = given.key or request.headers.get(HEADER)
    if not key:
        raise Problem(
            "validation-error",
            f"key: required (or send an {HEADER} header)",
            errors=[{"field": "key", "message": f"required, or an {HEADER} header"}],
        )

    def work(_key: str | None) -> Outcome:
        survey = find_survey(session, id)
        try:
            recorded = record_response(
                session, survey, given.customer, given.score, given.answers, given.comment,
                given.source, key, _now(),
            )  # fmt: skip
        except AnswerError as exc:
            errors = [{"field": exc.field, "message": exc.reason}]
            raise Problem("validation-error", str(exc), errors=errors) from None
        except SurveyConflict as exc:
            raise Problem("conflict", str(exc)) from None
        return Outcome(200 if recorded.repeated else 201, recorded.to_dict())

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.get("/{id}/responses", response_model=ResponsePage, responses=_READ_ERRORS)
def responses_route(
    session: DbSession,
    _principal: Reader,
    id: SurveyId,
    limit: Limit = 100,
    cursor: Cursor = None,
    customer: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """The answers in the order they came (cursor pages); ``customer``: one customer's."""
    rows = list_responses(session, id, after=decode_cursor(cursor), limit=limit, customer=customer)
    more = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return {"items": [r.to_dict() for r in rows], "next_cursor": more}


@router.get("/{id}/report", response_model=SurveyReportOut, responses=_READ_ERRORS)
def report_route(
    request: Request,
    session: DbSession,
    _principal: Reader,
    id: SurveyId,
    period: Period = "M",
    start: Day = None,
    end: Day = None,
) -> Any:
    """NPS (promoters, passives, detractors) or CSAT (share of 4-5, average) over the
    answers from ``start`` to ``end`` (UTC days, inclusive; default: all), and per period;
    for custom questions, how each was answered."""
    if start is not None and end is not None and start > end:
        raise Problem(
            "validation-error",
            f"start {start} is after end {end}",
            errors=[{"field": "start", "message": "on or before end"}],
        )
    survey = find_survey(session, id)
    session.rollback()  # the answers are read over a connection of their own
    engine = request.app.state.engine
    return survey_report(session, engine, survey, period=period, start=start, end=end)


@router.get("/{id}/link", response_model=SurveyLinkOut, responses=_WRITE_ERRORS)
def link_route(
    request: Request,
    session: DbSession,
    _principal: Writer,
    id: SurveyId,
    customer: Annotated[str, Query(max_length=200, description="The customer's external id.")],
    locale: Annotated[str | None, Query(max_length=35, pattern="^[A-Za-z_-]+$")] = None,
) -> Any:
    """A signed link where the customer answers the survey without logging in (to embed in
    the shop's own messages or pages), and one per score. It works for 30 days."""
    survey = find_survey(session, id)
    if survey.status != "active":
        raise Problem("conflict", f"survey {survey.name!r} is archived")
    row = customer_by_external_id(session, customer)
    if row is None or row.erased_at is not None:
        raise NotFoundError(f"no customer {customer!r}")
    signer: Signer | None = request.app.state.signer
    if signer is None:
        raise Problem("internal-error", "the server has no secret key to sign links with")
    base = public_url(request, "")
    url = survey_link(signer, base, survey.id, row.id, SURVEY_LINK_TTL, locale=locale or row.locale)
    low, high = survey.definition.score_range or (0, -1)
    return {
        "url": url,
        "score_urls": {str(s): u for s, u in score_links(url, low, high).items()},
        "expires_at": _now() + SURVEY_LINK_TTL,
    }
