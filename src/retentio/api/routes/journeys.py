"""Journeys over the API: save, list, get, pause, resume and the report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from retentio.api.body import openapi_body, require_empty
from retentio.api.campaign_schemas import JourneyIn, JourneyOut, JourneyReportOut
from retentio.api.deps import Body, DbSession, Reader, Writer
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.problems import problem_responses
from retentio.campaigns import find_journey, list_journeys, save_journey, set_journey_status
from retentio.campaigns.journey_report import journey_report

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(prefix="/journeys", tags=["journeys"])

BODY_MODELS = (JourneyIn,)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)
_READ_ERRORS = problem_responses(401, 403, 404, 422, 429)


@router.get("", response_model=list[JourneyOut], responses=_READ_ERRORS)
def list_route(session: DbSession, _principal: Reader) -> Any:
    """The journeys, by name, with their entrants by status."""
    return [journey.to_dict() for journey in list_journeys(session)]


@router.post(
    "",
    status_code=201,
    response_model=JourneyOut,
    responses=_WRITE_ERRORS,
    openapi_extra=openapi_body(JourneyIn),
)
def save_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """Save a journey, active from now. A name in use answers 409; an invalid definition 422
    with the path of the problem (``steps[1].wait.days``)."""

    def work(_key: str | None) -> Outcome:
        return Outcome(201, save_journey(session, body.value).to_dict())

    return run_idempotent(request, principal, body.sha256, work)


@router.get("/{name}", response_model=JourneyOut, responses=_READ_ERRORS)
def get_route(session: DbSession, _principal: Reader, name: str) -> Any:
    """A journey, with its entrants by status."""
    return find_journey(session, name).to_dict()


@router.get("/{name}/report", response_model=JourneyReportOut, responses=_READ_ERRORS)
def report_route(session: DbSession, _principal: Reader, name: str) -> Any:
    """The funnel of the journey's messages and its entrants against its control group,
    each measured over the attribution window from when they entered: conversion, revenue
    per customer, repeat purchase and churn, with 95 % intervals, and a verdict."""
    return journey_report(session, name).to_dict()


def _status_route(status: str) -> Any:
    def route(
        request: Request, session: DbSession, principal: Writer, name: str, body: Body
    ) -> Any:
        require_empty(body)

        def work(_key: str | None) -> Outcome:
            return Outcome(200, set_journey_status(session, name, status).to_dict())

        return run_idempotent(request, principal, body.sha256, work)

    return route


router.post(
    "/{name}/pause",
    response_model=JourneyOut,
    responses=_WRITE_ERRORS,
    summary="Pause a journey",
    description="No one enters or moves on; messages already queued still go. Send `{}`.",
)(_status_route("paused"))
router.post(
    "/{name}/resume",
    response_model=JourneyOut,
    responses=_WRITE_ERRORS,
    summary="Resume a journey",
    description="Entrants move on where they stopped. Send `{}`.",
)(_status_route("active"))
