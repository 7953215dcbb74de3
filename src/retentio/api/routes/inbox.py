"""The in-app inbox over the API: the shop's app (through its back end, with a key) lists a
customer's messages and marks them read or archived."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from retentio.api.body import require_empty
from retentio.api.channel_schemas import InboxMessageOut, InboxPageOut
from retentio.api.deps import Body, DbSession, Reader, Writer
from retentio.api.problems import problem_responses
from retentio.campaigns.inbox import list_inbox, mark_inbox_message
from retentio.core.clock import SystemClock

__all__ = ["router"]

router = APIRouter(prefix="/customers/{external_id}/inbox", tags=["inbox"])
_READ_ERRORS = problem_responses(401, 403, 404, 422, 429)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 413, 415, 422, 429)


@router.get("", response_model=InboxPageOut, responses=_READ_ERRORS)
def inbox_route(
    session: DbSession,
    _principal: Reader,
    external_id: str,
    before: Annotated[int | None, Query(ge=1, description="Messages older than this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    archived: Annotated[bool, Query(description="Include archived messages.")] = False,
) -> Any:
    """The customer's in-app messages, newest first, and how many are unread."""
    page = list_inbox(session, external_id, before=before, limit=limit, archived=archived)
    return page.to_dict()


@router.post("/{message_id}/read", response_model=InboxMessageOut, responses=_WRITE_ERRORS)
def read_route(
    session: DbSession, _principal: Writer, external_id: str, message_id: int, body: Body
) -> Any:
    """Mark a message read (send ``{}``); marking it again keeps the first time."""
    require_empty(body)
    return mark_inbox_message(session, external_id, message_id, "read", now=SystemClock().now())


@router.post("/{message_id}/archive", response_model=InboxMessageOut, responses=_WRITE_ERRORS)
def archive_route(
    session: DbSession, _principal: Writer, external_id: str, message_id: int, body: Body
) -> Any:
    """Archive a message (send ``{}``): it leaves the list and the unread count."""
    require_empty(body)
    return mark_inbox_message(session, external_id, message_id, "archived", now=SystemClock().now())
