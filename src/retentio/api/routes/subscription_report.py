"""The subscriptions' report over the API: ``GET /api/v1/subscriptions/report`` (included in
the subscriptions' router before its ``/{subscription_id}``, which would take ``report``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from retentio.api.deps import Reader
from retentio.api.problems import problem_responses
from retentio.subscriptions.report import REPORT_COHORTS, REPORT_DAYS, subscription_report_of

__all__ = ["router"]

router = APIRouter()
_ERRORS = problem_responses(401, 403, 422, 429)
AsOf = Annotated[
    date | None,
    Query(ge=date(1900, 1, 1), lt=date(2200, 1, 1), description="UTC day [default: today]."),
]
Days = Annotated[int, Query(ge=1, le=3660, description="Days up to as_of counted.")]
Cohorts = Annotated[int, Query(ge=0, le=600, description="Newest start-month cohorts shown.")]


@router.get("/report", responses=_ERRORS)
def report_route(
    request: Request,
    _principal: Reader,
    as_of: AsOf = None,
    days: Days = REPORT_DAYS,
    cohorts: Cohorts = REPORT_COHORTS,
) -> Any:
    """Subscriptions live at the end of ``as_of`` (active, paused, past due), MRR and ARR by
    currency; churn (voluntary and involuntary), pauses and how they ended, save-offer
    acceptance by reason and offer, and the orders, over the ``days`` up to ``as_of``; the
    newest ``cohorts`` start-month cohorts' survival and sBG projection (docs/subscriptions.md)."""
    day = as_of or datetime.now(UTC).date()
    return subscription_report_of(request.app.state.engine, as_of=day, days=days, cohorts=cohorts)
