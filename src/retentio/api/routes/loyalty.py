"""The loyalty ledger over the API: a member's balances and history, earning on an order,
redeeming and adjusting, each once per key (docs/loyalty.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from retentio.api.body import openapi_body, parse_body
from retentio.api.deps import Body, DbSession, Reader, Writer
from retentio.api.idempotency import HEADER
from retentio.api.loyalty_schemas import AdjustIn, EarnIn, MemberOut, PostedOut, RedeemIn
from retentio.api.problems import Problem, problem_responses
from retentio.core.clock import SystemClock
from retentio.core.errors import CurrencyError, MoneyError
from retentio.core.money import Money
from retentio.loyalty import (
    InsufficientPoints,
    adjust_points,
    balance_of,
    earn_for_order,
    redeem_points,
)
from retentio.loyalty.service import current_programme, member_history

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(prefix="/loyalty", tags=["loyalty"])
BODY_MODELS = (EarnIn, RedeemIn, AdjustIn)
_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)


def _key(request: Request, given: str | None) -> str:
    key = given or request.headers.get(HEADER)
    if not key:
        raise Problem("validation-error", f"key: required (or send an {HEADER} header)")
    return key


@router.get("/members/{external_id}", response_model=MemberOut, responses=_ERRORS)
def member_route(session: DbSession, _principal: Reader, external_id: str) -> Any:
    """The member's available and pending points, points ever earned, and history."""
    balance = balance_of(session, external_id)
    return {**balance.to_dict(), "history": member_history(session, external_id)}


@router.post(
    "/earn", response_model=PostedOut, responses=_ERRORS, openapi_extra=openapi_body(EarnIn)
)
def earn_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """An order's points, pending until its return window ends; once per order (a repeat
    answers ``repeated: true``). An order that earns nothing answers 422."""
    given = parse_body(EarnIn, body.value)
    try:
        amount = Money.from_major(given.amount, given.currency)
    except (MoneyError, CurrencyError, ValueError) as exc:
        raise Problem("validation-error", f"amount: {exc}") from None
    with request.app.state.write_lock:
        posted = earn_for_order(
            session,
            current_programme(session),
            customer=given.customer,
            order_id=given.order_id,
            amount_minor=amount.minor,
            currency=given.currency,
            ordered_at=given.ordered_at,
            now=SystemClock().now(),
            recorded_by=principal.actor,
        )
    if posted is None:
        raise Problem("invalid-data", "the order earns no points (currency, minimum order)")
    return posted.to_dict()


@router.post(
    "/redeem", response_model=PostedOut, responses=_ERRORS, openapi_extra=openapi_body(RedeemIn)
)
def redeem_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """Spend available points; more than the member has answers 409 and changes nothing."""
    given = parse_body(RedeemIn, body.value)
    try:
        with request.app.state.write_lock:
            posted = redeem_points(
                session,
                customer=given.customer,
                points=given.points,
                key=_key(request, given.key),
                now=SystemClock().now(),
                recorded_by=principal.actor,
                note=given.note,
            )
    except InsufficientPoints as exc:
        raise Problem("conflict", str(exc)) from None
    return posted.to_dict()


@router.post(
    "/adjust", response_model=PostedOut, responses=_ERRORS, openapi_extra=openapi_body(AdjustIn)
)
def adjust_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """A correction by hand, with its reason (an admin's or the shop's back office)."""
    given = parse_body(AdjustIn, body.value)
    with request.app.state.write_lock:
        posted = adjust_points(
            session,
            current_programme(session),
            customer=given.customer,
            points=given.points,
            key=_key(request, given.key),
            reason=given.reason,
            now=SystemClock().now(),
            recorded_by=principal.actor,
        )
    return posted.to_dict()
