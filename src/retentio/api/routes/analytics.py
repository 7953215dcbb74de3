"""The retention figures over the whole store: KPIs with their trend, cohorts, RFM segments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import pandas as pd
import pyarrow as pa
from fastapi import APIRouter, Query, Request

from retentio.analytics import (
    KPI_KEYS,
    cohort_matrix,
    kpi_trends,
    kpis,
    rfm_segments,
    trend_direction,
)
from retentio.api.deps import Reader
from retentio.api.problems import Problem, problem_responses
from retentio.api.schemas import KpisOut
from retentio.core.frames import plain

__all__ = ["router"]

router = APIRouter(tags=["analytics"])

End = Annotated[
    date | None,
    Query(
        ge=date(1900, 1, 1),
        lt=date(2200, 1, 1),  # as stored times (and within what pandas' times can hold)
        description="Last day (inclusive) of data to use [default: today, UTC].",
    ),
]
Period = Annotated[str, Query(pattern="^(D|W|M|Q|Y)$", description="D, W, M, Q or Y.")]
_ERRORS = problem_responses(401, 403, 422, 429)


def _transactions(request: Request) -> pa.Table:
    table: pa.Table = request.app.state.transactions()
    if table.num_rows == 0:
        raise Problem("invalid-data", "the store holds no completed orders yet")
    return table


def _end(given: date | None) -> date:
    return given if given is not None else datetime.now(UTC).date()


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(k): plain(v) for k, v in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]


@router.get("/kpis", response_model=KpisOut, responses=_ERRORS)
def kpis_route(request: Request, _principal: Reader, observation_end: End = None) -> KpisOut:
    """The headline KPIs, whether each is rising or falling, and their monthly values."""
    table, end = _transactions(request), _end(observation_end)
    figures = kpis(table, observation_end=end)
    monthly = kpi_trends(table, observation_end=end, period="M")
    complete = monthly[monthly["complete"]]
    return KpisOut(
        observation_end=end,
        kpis={k: plain(figures[k]) for k in KPI_KEYS},
        trend={k: trend_direction(complete[k]) for k in KPI_KEYS},
        monthly=_rows(monthly),
    )


@router.get("/cohorts", responses=_ERRORS)
def cohorts_route(
    request: Request, _principal: Reader, observation_end: End = None, period: Period = "M"
) -> list[dict[str, Any]]:
    """The acquisition-cohort matrix: one row per cohort and period since acquisition."""
    table = _transactions(request)
    return _rows(cohort_matrix(table, observation_end=_end(observation_end), period=period))


@router.get("/rfm", responses=_ERRORS)
def rfm_route(
    request: Request, _principal: Reader, observation_end: End = None
) -> list[dict[str, Any]]:
    """The RFM segments: customers, share and revenue per segment."""
    table = _transactions(request)
    return _rows(rfm_segments(table, observation_end=_end(observation_end)))
