"""Consent over the API: the current state, recording, double opt-in, withdrawal, the texts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from retentio.api.body import openapi_body, parse_body
from retentio.api.deps import Admin, Body, DbSession, Principal, Reader, Writer
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.problems import Problem, problem_responses
from retentio.api.routes.pages import PAGE_LANGUAGES
from retentio.api.schemas import (
    ConsentIn,
    ConsentOut,
    ConsentTextIn,
    ConsentTextOut,
    OptInIn,
    OptInOut,
    WithdrawalLinkOut,
    WithdrawIn,
)
from retentio.core.signing import Signer
from retentio.privacy import (
    confirmation_message,
    current_consents,
    list_texts,
    publish_text,
    record_consent,
    start_double_opt_in,
    withdraw_consent,
    withdrawal_token,
)
from retentio.privacy.errors import NotFoundError
from retentio.store.customers import customer_by_external_id

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(tags=["consent"])

#: The request bodies read by hand (for the same body checks as every POST), for OpenAPI.
BODY_MODELS: tuple[type[BaseModel], ...] = (ConsentIn, OptInIn, WithdrawIn, ConsentTextIn)
_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)


def _signer(request: Request) -> Signer:
    signer: Signer | None = request.app.state.signer
    if signer is None:
        raise Problem("internal-error", "the server has no secret key to sign links with")
    return signer


def public_url(request: Request, path: str) -> str:
    """An absolute URL on this server (``public_url`` when configured, else as requested)."""
    base = request.app.state.config.public_url or str(request.base_url)
    return base.rstrip("/") + path


def _lang(language: str) -> str:
    """The query string that shows a customer's page in ``language`` (if the pages have it)."""
    primary = language.split("-")[0].split("_")[0].lower()
    return f"?lang={primary}" if primary in PAGE_LANGUAGES else ""


def _run(request: Request, principal: Principal, sha256: str, status: int, make: Any) -> Any:
    return run_idempotent(request, principal, sha256, lambda _key: Outcome(status, make()))


@router.get(
    "/customers/{external_id}/consents",
    response_model=list[ConsentOut],
    responses=problem_responses(401, 403, 404, 429),
)
def consents_route(session: DbSession, _principal: Reader, external_id: str) -> Any:
    """The customer's current consent per channel and purpose."""
    return [state.to_dict() for state in current_consents(session, external_id)]


@router.post(
    "/customers/{external_id}/consents",
    status_code=201,
    response_model=ConsentOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(ConsentIn),
)
def record_route(
    request: Request, session: DbSession, principal: Writer, external_id: str, body: Body
) -> Any:
    """Record a grant or a withdrawal with its evidence (appended to the ledger).

    E-mail marketing on the basis of consent stays ``pending`` until confirmed: start a double
    opt-in for it instead. ``soft_opt_in`` needs an order of the customer.
    """
    given = parse_body(ConsentIn, body.value)

    def make() -> dict[str, Any]:
        state = record_consent(
            session,
            customer=external_id,
            recorded_by=principal.actor,
            **given.model_dump(),
        )
        return state.to_dict()

    return _run(request, principal, body.sha256, 201, make)


@router.post(
    "/customers/{external_id}/consents/double-opt-in",
    status_code=201,
    response_model=OptInOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(OptInIn),
)
def opt_in_route(
    request: Request, session: DbSession, principal: Writer, external_id: str, body: Body
) -> Any:
    """Start a double opt-in for e-mail marketing: send the returned message to the customer.

    The consent is ``pending`` (never marketable) until the link in it is confirmed; the link
    is single-use and expires.
    """
    given = parse_body(OptInIn, body.value)

    def make() -> dict[str, Any]:
        pending = start_double_opt_in(
            session, customer=external_id, recorded_by=principal.actor, **given.model_dump()
        )
        url = public_url(request, f"/consent/confirm/{pending.token}{_lang(given.language)}")
        message = confirmation_message(given.language, url)
        return {**pending.to_dict(), "confirm_url": url, "message": message.to_dict()}

    return _run(request, principal, body.sha256, 201, make)


@router.post(
    "/customers/{external_id}/consents/withdraw",
    response_model=ConsentOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(WithdrawIn),
)
def withdraw_route(
    request: Request, session: DbSession, principal: Writer, external_id: str, body: Body
) -> Any:
    """Withdraw a consent, effective at once (withdrawing twice records it once)."""
    given = parse_body(WithdrawIn, body.value)

    def make() -> dict[str, Any]:
        state = withdraw_consent(
            session,
            customer=external_id,
            channel=given.channel,
            purpose=given.purpose,
            recorded_by=principal.actor,
        )
        return state.to_dict()

    return _run(request, principal, body.sha256, 200, make)


@router.get(
    "/customers/{external_id}/consents/withdrawal-link",
    response_model=WithdrawalLinkOut,
    responses=problem_responses(401, 403, 404, 422, 429),
)
def withdrawal_link_route(
    request: Request,
    session: DbSession,
    _principal: Writer,
    external_id: str,
    channel: Annotated[str, Query(max_length=20)] = "email",
    purpose: Annotated[str, Query(max_length=20)] = "marketing",
    language: Annotated[
        str | None, Query(max_length=35, description="The page's language: da, en or nl.")
    ] = None,
) -> WithdrawalLinkOut:
    """A signed one-click withdrawal link for messages (also the List-Unsubscribe URL)."""
    customer = customer_by_external_id(session, external_id)
    if customer is None:
        raise NotFoundError(f"no customer with external_id {external_id!r}")
    token = withdrawal_token(_signer(request), customer.id, channel, purpose)
    suffix = _lang(language) if language else ""
    return WithdrawalLinkOut(token=token, url=public_url(request, f"/u/{token}{suffix}"))


@router.get(
    "/consent-texts",
    response_model=list[ConsentTextOut],
    responses=problem_responses(401, 403, 422, 429),
)
def texts_route(
    session: DbSession,
    _principal: Reader,
    language: Annotated[str | None, Query(max_length=35)] = None,
) -> Any:
    """The published consent texts (the wording shown when consent is asked)."""
    return [text.to_dict() for text in list_texts(session, language=language)]


@router.post(
    "/consent-texts",
    status_code=201,
    response_model=ConsentTextOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(ConsentTextIn),
)
def publish_route(request: Request, session: DbSession, principal: Admin, body: Body) -> Any:
    """Publish a consent text version; a marketing text must say how to withdraw consent."""
    given = parse_body(ConsentTextIn, body.value)

    def make() -> dict[str, Any]:
        return publish_text(session, actor=principal.actor, **given.model_dump()).to_dict()

    return _run(request, principal, body.sha256, 201, make)
