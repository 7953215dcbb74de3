"""The rewards catalogue and the coupons redeemed from it: the shop checks a code, marks it
used on an order, or cancels it unused (its points come back) (docs/loyalty.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from retentio.api.body import openapi_body, parse_body, require_empty
from retentio.api.deps import Body, DbSession, Reader, Writer
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.loyalty_schemas import CouponOut, CouponUseIn
from retentio.api.problems import problem_responses
from retentio.core.clock import SystemClock
from retentio.loyalty.coupons import Coupon, cancel_coupon, coupon_by_code, rewards_for, use_coupon
from retentio.loyalty.service import current_programme

__all__ = ["BODY_MODELS", "coupon_json", "router"]

router = APIRouter(prefix="/loyalty", tags=["loyalty"])
BODY_MODELS = (CouponUseIn,)
_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)


def coupon_json(coupon: Coupon) -> dict[str, Any]:
    """A coupon as the API shows it (times as every response model writes them)."""
    return CouponOut.model_validate(coupon.to_dict()).model_dump(mode="json")


@router.get("/rewards", responses=_ERRORS)
def rewards_route(session: DbSession, _principal: Reader, customer: str | None = None) -> Any:
    """The rewards catalogue; with ``customer``, whether each is redeemable for them now and
    why not (points, tier, limit)."""
    programme = current_programme(session)
    found = rewards_for(session, programme, customer, now=SystemClock().now())
    return {"currency": programme.currency, "rewards": found}


@router.get("/coupons/{code}", response_model=CouponOut, responses=_ERRORS)
def coupon_route(session: DbSession, _principal: Reader, code: str) -> Any:
    """A coupon: its reward, value, status and expiry (for the shop's checkout)."""
    return coupon_by_code(session, code).to_dict()


@router.post(
    "/coupons/{code}/use",
    response_model=CouponOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(CouponUseIn),
)
def use_route(
    request: Request, session: DbSession, principal: Writer, body: Body, code: str
) -> Any:
    """The shop honoured the coupon on an order; used, cancelled or expired answers 409."""
    given = parse_body(CouponUseIn, body.value)

    def work(_key: str | None) -> Outcome:
        used = use_coupon(session, code=code, order_id=given.order_id, now=SystemClock().now())
        return Outcome(200, coupon_json(used))

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.post("/coupons/{code}/cancel", response_model=CouponOut, responses=_ERRORS)
def cancel_route(
    request: Request, session: DbSession, principal: Writer, body: Body, code: str
) -> Any:
    """Cancel an unused coupon: its points come back (a used one answers 409)."""
    require_empty(body)

    def work(_key: str | None) -> Outcome:
        cancelled = cancel_coupon(
            session,
            current_programme(session),
            code=code,
            now=SystemClock().now(),
            recorded_by=principal.actor,
        )
        return Outcome(200, coupon_json(cancelled))

    return run_idempotent(request, principal, body.sha256, work, session=session)
