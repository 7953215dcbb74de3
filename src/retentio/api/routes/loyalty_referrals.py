"""Referrals over the API: a member's code and link, referring a friend (once per key), the
referrals, and the review of those held for fraud checks (docs/loyalty.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from retentio.api.body import openapi_body, parse_body, require_empty
from retentio.api.deps import Admin, Body, DbSession, Reader, Writer
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.problems import problem_responses
from retentio.api.referral_schemas import AddressIn, ReferralCodeOut, ReferralIn, ReferralOut
from retentio.api.routes.loyalty import ledger_key
from retentio.core.clock import SystemClock
from retentio.loyalty.referrals import (
    Referral,
    list_referrals,
    refer,
    referral_code,
    review_referral,
)
from retentio.loyalty.service import current_programme

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(prefix="/loyalty", tags=["loyalty"])
BODY_MODELS = (ReferralIn,)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)
_READ_ERRORS = problem_responses(401, 403, 404, 422, 429)


def _shown(referral: Referral) -> dict[str, Any]:
    """As every route shows it (an answer stored for a replay too): times as the API's
    models write them."""
    return ReferralOut.model_validate(referral.to_dict()).model_dump(mode="json")


ExternalId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
#: Within the database's 64-bit integers (a larger one is no referral, not a server error).
ReferralId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get(
    "/members/{external_id}/referral", response_model=ReferralCodeOut, responses=_WRITE_ERRORS
)
def code_route(
    request: Request, session: DbSession, _principal: Writer, external_id: ExternalId
) -> Any:
    """The member's referral code (made on first use, hence a write key) and link."""
    with request.app.state.write_lock:
        code = referral_code(session, external_id, now=SystemClock().now())
    rules = current_programme(session).referrals
    return {"code": code, "link": None if rules is None else rules.link_for(code)}


@router.post(
    "/referrals",
    status_code=201,
    response_model=ReferralOut,
    responses={200: {"model": ReferralOut, "description": "A repeated key."}, **_WRITE_ERRORS},
    openapi_extra=openapi_body(ReferralIn),
)
def refer_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """Refer a friend (a customer) with a member's code: ``pending`` until the friend's first
    qualifying order has passed its return window, ``flagged`` when a fraud check holds it for
    review, ``rejected`` for a self-referral. A friend is referred once (409 after)."""
    given = parse_body(ReferralIn, body.value)
    key = ledger_key(request, given.key)
    address = given.address
    parts = address.model_dump(exclude_none=True) if isinstance(address, AddressIn) else None

    def work(_key: str | None) -> Outcome:
        made = refer(
            session,
            current_programme(session),
            code=given.code,
            friend=given.friend,
            key=key,
            now=SystemClock().now(),
            recorded_by=principal.actor,
            email=given.email,
            phone=given.phone,
            address=address if parts is None else parts,
        )
        return Outcome(200 if made.repeated else 201, _shown(made))

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.get("/referrals", response_model=list[ReferralOut], responses=_READ_ERRORS)
def list_route(
    session: DbSession,
    _principal: Reader,
    status: Annotated[str | None, Query(max_length=20)] = None,
    referrer: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Referrals, newest first: of one ``status`` (pending, flagged, completed, rejected) and
    one ``referrer`` (external id), if given."""
    found = list_referrals(session, status=status, referrer=referrer, limit=limit)
    return [_shown(referral) for referral in found]


def _review(
    request: Request, session: DbSession, principal: Admin, referral_id: ReferralId, body: Body, *,
    approve: bool,
) -> Any:  # fmt: skip
    require_empty(body)

    def work(_key: str | None) -> Outcome:
        reviewed = review_referral(
            session,
            current_programme(session),
            referral_id,
            approve=approve,
            actor=principal.actor,
            now=SystemClock().now(),
        )
        return Outcome(200, _shown(reviewed))

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.post(
    "/referrals/{referral_id}/approve", response_model=ReferralOut, responses=_WRITE_ERRORS
)
def approve_route(
    request: Request, session: DbSession, principal: Admin, referral_id: ReferralId, body: Body
) -> Any:
    """Approve a referral held for review (send ``{}``): pending again, it completes like any
    other. One not held for review answers 409."""
    return _review(request, session, principal, referral_id, body, approve=True)


@router.post("/referrals/{referral_id}/reject", response_model=ReferralOut, responses=_WRITE_ERRORS)
def reject_route(
    request: Request, session: DbSession, principal: Admin, referral_id: ReferralId, body: Body
) -> Any:
    """Reject a referral held for review (send ``{}``). One not held for review answers 409."""
    return _review(request, session, principal, referral_id, body, approve=False)
