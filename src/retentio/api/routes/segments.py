"""Segments over the API: save, list, count, preview, refresh, and page through the members."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from retentio.api.body import openapi_body, require_empty
from retentio.api.deps import Body, DbSession, Reader, Writer
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from retentio.api.problems import problem_responses
from retentio.api.schemas import (
    SegmentCountOut,
    SegmentIn,
    SegmentMemberOut,
    SegmentMemberPage,
    SegmentOut,
    SegmentPreviewOut,
    SegmentRefreshOut,
)
from retentio.segments import (
    PREVIEW_LIMIT,
    SegmentDefinition,
    count_members,
    delete_segment,
    find_segment,
    list_members,
    list_segments,
    parse_definition,
    preview_members,
    refresh_segment,
    save_segment,
    scores_as_of,
)

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(prefix="/segments", tags=["segments"])

BODY_MODELS = (SegmentIn,)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)
_READ_ERRORS = problem_responses(401, 403, 404, 422, 429)
PreviewLimit = Annotated[int, Query(ge=1, le=1000, description="Members shown.")]


@router.get("", response_model=list[SegmentOut], responses=_READ_ERRORS)
def list_route(session: DbSession, _principal: Reader) -> Any:
    """The saved segments, by name, with their members at the last refresh."""
    return [segment.to_dict() for segment in list_segments(session)]


@router.post(
    "",
    status_code=201,
    response_model=SegmentOut,
    responses={200: {"model": SegmentOut, "description": "Replaced."}, **_WRITE_ERRORS},
    openapi_extra=openapi_body(SegmentIn),
)
def save_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """Save a segment, or replace the definition of the one with its name (200).

    An invalid definition answers 422 with the path of the problem (``where.all[1].p_alive``).
    """

    def work(_key: str | None) -> Outcome:
        saved, created = save_segment(session, body.value)
        return Outcome(201 if created else 200, saved.to_dict())

    return run_idempotent(request, principal, body.sha256, work)


@router.post(
    "/preview",
    response_model=SegmentPreviewOut,
    responses=_WRITE_ERRORS,
    openapi_extra=openapi_body(SegmentIn),
)
def preview_definition_route(
    session: DbSession, _principal: Reader, body: Body, limit: PreviewLimit = PREVIEW_LIMIT
) -> Any:
    """Count and preview a definition without saving it (nothing is written)."""
    return _preview(session, parse_definition(body.value), limit)


@router.get("/{name}", response_model=SegmentOut, responses=_READ_ERRORS)
def get_route(session: DbSession, _principal: Reader, name: str) -> Any:
    """A saved segment."""
    return find_segment(session, name).to_dict()


@router.delete("/{name}", status_code=204, responses=_WRITE_ERRORS)
def delete_route(session: DbSession, request: Request, _principal: Writer, name: str) -> Response:
    """Delete a saved segment and its membership history."""
    with request.app.state.write_lock:
        delete_segment(session, name)
    return Response(status_code=204)


@router.get("/{name}/count", response_model=SegmentCountOut, responses=_READ_ERRORS)
def count_route(session: DbSession, _principal: Reader, name: str) -> Any:
    """How many customers are in the saved segment now (evaluated at the request)."""
    return _counted(session, find_segment(session, name).definition)


@router.get("/{name}/preview", response_model=SegmentPreviewOut, responses=_READ_ERRORS)
def preview_route(
    session: DbSession, _principal: Reader, name: str, limit: PreviewLimit = PREVIEW_LIMIT
) -> Any:
    """The count and the first members by customer id, with the values of the tested fields."""
    return _preview(session, find_segment(session, name).definition, limit)


@router.post(
    "/{name}/refresh",
    response_model=SegmentRefreshOut,
    responses=_WRITE_ERRORS,
)
def refresh_route(
    request: Request, session: DbSession, principal: Writer, name: str, body: Body
) -> Any:
    """Evaluate the saved segment and record who entered and who left. Send ``{}``."""
    require_empty(body)

    def work(_key: str | None) -> Outcome:
        return Outcome(200, refresh_segment(session, name).to_dict())

    return run_idempotent(request, principal, body.sha256, work)


@router.get("/{name}/members", response_model=SegmentMemberPage, responses=_READ_ERRORS)
def members_route(
    session: DbSession,
    _principal: Reader,
    name: str,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Any:
    """The members at the last refresh, in the order they entered (cursor pages)."""
    rows = list_members(session, name, after=decode_cursor(cursor), limit=limit)
    more = encode_cursor(rows[-1].membership_id) if len(rows) == limit else None
    items = [SegmentMemberOut(external_id=r.external_id, entered_at=r.entered_at) for r in rows]
    return SegmentMemberPage(items=items, next_cursor=more)


def _counted(session: DbSession, definition: SegmentDefinition) -> dict[str, Any]:
    return {
        "segment": definition.name,
        "members": count_members(session, definition),
        "scores_computed_at": scores_as_of(session),
    }


def _preview(session: DbSession, definition: SegmentDefinition, limit: int) -> dict[str, Any]:
    rows = preview_members(session, definition, limit=limit)
    return {**_counted(session, definition), "rows": rows}
