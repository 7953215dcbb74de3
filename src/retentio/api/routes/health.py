"""``GET /api/v1/health``: no authentication; 503 when the database cannot be reached."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from retentio import __version__
from retentio.api.problems import problem_responses
from retentio.api.schemas import HealthOut
from retentio.store import current_revision

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthOut,
    responses={
        503: {"model": HealthOut, "description": "The database is down."},
        **problem_responses(429),
    },
)
def health(request: Request) -> Any:
    """Whether the server and its database answer, and the schema revision."""
    try:
        revision = current_revision(request.app.state.engine)
    except SQLAlchemyError:
        body = HealthOut(
            status="unavailable", database="unreachable", revision=None, version=__version__
        )
        return JSONResponse(body.model_dump(), status_code=503)
    return HealthOut(status="ok", database="ok", revision=revision, version=__version__)
