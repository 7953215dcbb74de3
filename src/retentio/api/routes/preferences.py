"""Stated preferences over the API: read them and their history, replace (PUT) or change
(PATCH) them, and make a signed link to the customer's preference centre."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from retentio.api.body import openapi_body, parse_body
from retentio.api.deps import Body, DbSession, Principal, Reader, Writer
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.preference_schemas import (
    PreferenceHistoryOut,
    PreferenceLinkOut,
    PreferencesIn,
    PreferencesOut,
    PreferencesUpdateOut,
)
from retentio.api.problems import Problem, problem_responses
from retentio.api.routes.consent import public_url
from retentio.api.routes.customers import customer_or_404
from retentio.api.routes.pages import PAGE_LANGUAGES
from retentio.core.signing import Signer
from retentio.feedback import (
    PreferenceError,
    preference_history,
    preferences_of,
    set_preferences,
)
from retentio.privacy.audit import record_access
from retentio.privacy.preference_links import PREFERENCES_TTL, preference_token

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(prefix="/customers", tags=["preferences"])

#: The request bodies read by hand (for the same body checks as every write), for OpenAPI.
BODY_MODELS: tuple[type[BaseModel], ...] = (PreferencesIn,)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)
_PATH = "/{external_id}/preferences"


def _audit(
    request: Request, session: DbSession, principal: Principal, action: str, customer_id: int
) -> None:
    """The read in the audit log, in a transaction of its own under the write lock."""
    session.commit()
    with request.app.state.write_lock:
        record_access(session, principal.actor, action, customer_id, {})
        session.commit()


@router.get(_PATH, response_model=PreferencesOut, responses=problem_responses(401, 403, 404, 429))
def preferences_route(
    request: Request, session: DbSession, principal: Reader, external_id: str
) -> Any:
    """The customer's stated preferences, each with where and when it was stated."""
    customer = customer_or_404(session, external_id)
    found = preferences_of(session, customer).to_dict()
    _audit(request, session, principal, "customer.preferences.read", customer.id)
    return found


@router.get(
    f"{_PATH}/history",
    response_model=PreferenceHistoryOut,
    responses=problem_responses(401, 403, 404, 422, 429),
)
def history_route(
    request: Request,
    session: DbSession,
    principal: Reader,
    external_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The latest changes of the customer's stated preferences, newest first."""
    customer = customer_or_404(session, external_id)
    items = [c.to_dict() for c in preference_history(session, customer, limit=limit)]
    _audit(request, session, principal, "customer.preferences.history", customer.id)
    return {"customer": external_id, "items": items}


def _write(
    request: Request,
    session: DbSession,
    principal: Principal,
    external_id: str,
    body: Any,
    *,
    replace: bool,
) -> Any:
    given = parse_body(PreferencesIn, body.value)
    values = given.preferences.model_dump(exclude_unset=True)
    customer_or_404(session, external_id)
    session.rollback()  # the write begins its own transaction

    def work(_key: str | None) -> Outcome:
        try:
            update = set_preferences(
                session,
                external_id,
                values,
                source=given.source,
                actor=principal.actor,
                topics=request.app.state.config.preference_topics,
                replace=replace,
            )
        except PreferenceError as error:
            if error.field == "customer":
                raise Problem("conflict", error.reason) from None
            field = f"preferences.{error.field}"
            raise Problem(
                "validation-error",
                f"{field}: {error.reason}",
                errors=[{"field": field, "message": error.reason}],
            ) from None
        return Outcome(200, update.to_dict())

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.put(
    _PATH,
    response_model=PreferencesUpdateOut,
    responses=_WRITE_ERRORS,
    openapi_extra=openapi_body(PreferencesIn),
)
def replace_route(
    request: Request, session: DbSession, principal: Writer, external_id: str, body: Body
) -> Any:
    """Replace the customer's stated preferences: a name not given is cleared. Unchanged
    values record nothing; each change is kept in the history."""
    return _write(request, session, principal, external_id, body, replace=True)


@router.patch(
    _PATH,
    response_model=PreferencesUpdateOut,
    responses=_WRITE_ERRORS,
    openapi_extra=openapi_body(PreferencesIn),
)
def change_route(
    request: Request, session: DbSession, principal: Writer, external_id: str, body: Body
) -> Any:
    """Change some of the customer's stated preferences (``null`` clears one)."""
    return _write(request, session, principal, external_id, body, replace=False)


@router.get(
    f"{_PATH}/link",
    response_model=PreferenceLinkOut,
    responses=problem_responses(401, 403, 404, 422, 429),
)
def link_route(
    request: Request,
    session: DbSession,
    _principal: Writer,
    external_id: str,
    channel: Annotated[
        str | None,
        Query(
            pattern="^(email|sms|push|in_app)$",
            description="The channel the link is sent over (an e-mail link lets the customer "
            "sign up for e-mail there: it proves the address).",
        ),
    ] = None,
    language: Annotated[
        str | None, Query(max_length=35, description="The page's language: da, en or nl.")
    ] = None,
) -> PreferenceLinkOut:
    """A signed link to the customer's preference centre (``/p/{token}``), for the shop's own
    messages; every campaign message carries one already."""
    customer = customer_or_404(session, external_id)
    signer: Signer | None = request.app.state.signer
    if signer is None:
        raise Problem("internal-error", "the server has no secret key to sign links with")
    now = datetime.now(UTC)
    token = preference_token(signer, customer.id, via=channel, now=now)
    primary = (language or "").split("-")[0].split("_")[0].lower()
    suffix = f"?lang={primary}" if primary in PAGE_LANGUAGES else ""
    url = public_url(request, f"/p/{token}{suffix}")
    return PreferenceLinkOut(token=token, url=url, expires_at=now + PREFERENCES_TTL)
