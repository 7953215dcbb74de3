"""The loyalty ledger over the API: a member's profile, earning on an order or an action,
redeeming points or a reward, adjusting, and the programme's versions (docs/loyalty.md).

Every POST runs once per Idempotency-Key (the same key and body replay the stored answer),
and each change is also keyed in the ledger (the order id, or ``key``/the Idempotency-Key), so
a retry without the header changes nothing either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy.orm import Session

from retentio.api.body import JsonBody, openapi_body, parse_body
from retentio.api.deps import Admin, Body, DbSession, Principal, Reader, Writer
from retentio.api.idempotency import HEADER, Outcome, run_idempotent
from retentio.api.loyalty_schemas import (
    AdjustIn,
    EarnIn,
    MemberOut,
    PostedOut,
    ProgrammeOut,
    RedeemIn,
    RefundIn,
)
from retentio.api.problems import Problem, problem_responses
from retentio.api.routes.loyalty_rewards import coupon_json
from retentio.core.clock import SystemClock
from retentio.core.errors import CurrencyError, MoneyError
from retentio.core.money import Money
from retentio.loyalty import (
    Line,
    adjust_points,
    balance_of,
    earn_for_action,
    earn_for_order,
    redeem_points,
    reverse_for_refund,
)
from retentio.loyalty.coupons import redeem_reward
from retentio.loyalty.service import (
    configure_programme,
    current_programme,
    member_profile,
    programme_versions,
    saved_programme,
)

__all__ = ["BODY_MODELS", "ledger_change", "ledger_key", "router"]

router = APIRouter(prefix="/loyalty", tags=["loyalty"])
BODY_MODELS = (EarnIn, RedeemIn, AdjustIn, RefundIn)
_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)


def ledger_key(request: Request, given: str | None) -> str:
    """The ledger key of a change: the body's ``key``, else the Idempotency-Key header."""
    key = given or request.headers.get(HEADER)
    if not key:
        raise Problem("validation-error", f"key: required (or send an {HEADER} header)")
    return key


def ledger_change(
    request: Request,
    principal: Principal,
    session: Session,
    body: JsonBody,
    work: Callable[[str | None], Outcome],
) -> Any:
    """``work`` once per Idempotency-Key, run again if PostgreSQL aborted it to break a
    deadlock (the ledger's keys make a second run safe)."""
    return run_idempotent(request, principal, body.sha256, work, session=session)


def _minor(field: str, amount: str | None, currency: str) -> int:
    """An amount in major units as minor units; a 422 naming ``field`` when it is not an
    amount of ``currency`` or is negative."""
    if amount is None:
        return 0
    try:
        minor = Money.from_major(amount, currency).minor
    except (MoneyError, CurrencyError, ValueError) as exc:
        raise Problem("validation-error", f"{field}: {exc}") from None
    if minor < 0:
        raise Problem("validation-error", f"{field}: not negative (send a refund as a refund)")
    return minor


@router.get("/members/{external_id}", response_model=MemberOut, responses=_ERRORS)
def member_route(session: DbSession, _principal: Reader, external_id: str) -> Any:
    """The member's available and pending points, tier and progress to the next, points
    expiring soon, referral code, and history."""
    programme = current_programme(session)
    return member_profile(session, programme, external_id, now=SystemClock().now())


def _earn(request: Request, session: Any, actor: str, given: EarnIn) -> Outcome:
    programme = current_programme(session)
    now = SystemClock().now()
    if given.action is not None:
        posted = earn_for_action(
            session,
            programme,
            customer=given.customer,
            action=given.action,
            key=ledger_key(request, given.key),
            now=now,
            occurred_at=given.occurred_at,
            recorded_by=actor,
            note=given.note,
        )
        return Outcome(200, posted.to_dict())
    assert given.order_id and given.currency and given.ordered_at  # noqa: S101 (validated)
    currency = given.currency
    lines = [
        Line(_minor(f"lines[{n}].amount", line.amount, currency), line.product, line.category)
        for n, line in enumerate(given.lines)
    ]
    earned = earn_for_order(
        session,
        programme,
        customer=given.customer,
        order_id=given.order_id,
        amount_minor=_minor("amount", given.amount, currency),
        currency=currency,
        ordered_at=given.ordered_at,
        now=now,
        recorded_by=actor,
        shipping_minor=_minor("shipping", given.shipping, currency),
        tax_minor=_minor("tax", given.tax, currency),
        lines=lines,
    )
    if earned is None:
        raise Problem("invalid-data", "the order earns no points (currency, minimum order)")
    return Outcome(200, earned.to_dict())


@router.post(
    "/earn", response_model=PostedOut, responses=_ERRORS, openapi_extra=openapi_body(EarnIn)
)
def earn_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """An order's points (pending until its return window ends; once per order) or an
    action's (once per key; 409 beyond its limit). An order that earns nothing answers 422;
    a repeat answers ``repeated: true``."""
    given = parse_body(EarnIn, body.value)
    return ledger_change(
        request,
        principal,
        session,
        body,
        lambda _k: _earn(request, session, principal.actor, given),
    )


@router.post(
    "/redeem", response_model=PostedOut, responses=_ERRORS, openapi_extra=openapi_body(RedeemIn)
)
def redeem_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """Spend available points, or redeem a ``reward`` for a coupon code. More than the member
    has, a reward's limit or tier answers 409 and changes nothing."""
    given = parse_body(RedeemIn, body.value)

    def work(_key: str | None) -> Outcome:
        key = ledger_key(request, given.key)
        now = SystemClock().now()
        if given.reward is not None:
            coupon = redeem_reward(
                session,
                current_programme(session),
                customer=given.customer,
                reward_id=given.reward,
                key=key,
                now=now,
                recorded_by=principal.actor,
            )
            balance = coupon.balance.to_dict() if coupon.balance else {}
            body = {
                "entry_id": coupon.entry_id,
                "kind": "redeem",
                "points": -coupon.points,
                "pending_points": 0,
                "repeated": coupon.repeated,
                "balance": balance,
                "coupon": coupon_json(coupon),
            }
            return Outcome(200, body)
        assert given.points is not None  # noqa: S101 (validated)
        posted = redeem_points(
            session,
            customer=given.customer,
            points=given.points,
            key=key,
            now=now,
            recorded_by=principal.actor,
            note=given.note,
        )
        return Outcome(200, posted.to_dict())

    return ledger_change(request, principal, session, body, work)


@router.post(
    "/adjust", response_model=PostedOut, responses=_ERRORS, openapi_extra=openapi_body(AdjustIn)
)
def adjust_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """A correction by hand, with its reason (an admin's or the shop's back office)."""
    given = parse_body(AdjustIn, body.value)

    def work(_key: str | None) -> Outcome:
        posted = adjust_points(
            session,
            current_programme(session),
            customer=given.customer,
            points=given.points,
            key=ledger_key(request, given.key),
            reason=given.reason,
            now=SystemClock().now(),
            recorded_by=principal.actor,
        )
        return Outcome(200, posted.to_dict())

    return ledger_change(request, principal, session, body, work)


@router.post(
    "/refund", response_model=PostedOut, responses=_ERRORS, openapi_extra=openapi_body(RefundIn)
)
def refund_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """A refund or return takes back its share of the order's points (pending first; spent
    points as the programme's ``returns`` says); once per refund. A refund that takes back
    nothing (an order that earned nothing, a share already taken) answers 200 with
    ``"points": 0`` and no entry."""
    given = parse_body(RefundIn, body.value)

    def work(_key: str | None) -> Outcome:
        posted = reverse_for_refund(
            session,
            current_programme(session),
            customer=given.customer,
            order_id=given.order_id,
            amount_minor=_minor("amount", given.amount, given.currency),
            refunded_minor=_minor("refunded", given.refunded, given.currency),
            refund_id=given.refund_id,
            now=SystemClock().now(),
            recorded_by=principal.actor,
        )
        if posted is None:
            balance = balance_of(session, given.customer).to_dict()
            nothing = {"entry_id": None, "kind": "reverse", "points": 0, "pending_points": 0}
            return Outcome(200, {**nothing, "repeated": False, "balance": balance})
        return Outcome(200, posted.to_dict())

    return ledger_change(request, principal, session, body, work)


@router.get("/programme", response_model=ProgrammeOut, responses=_ERRORS)
def programme_route(session: DbSession, _principal: Reader) -> Any:
    """The programme in force (its newest version) and every saved version."""
    saved = saved_programme(session)
    return {
        "version": None if saved is None else saved[0],
        "definition": {} if saved is None else saved[1],
        "versions": programme_versions(session),
    }


@router.put("/programme", response_model=ProgrammeOut, responses=_ERRORS)
def configure_route(request: Request, session: DbSession, principal: Admin, body: Body) -> Any:
    """Check a programme definition and save it as the next version, in force at once; an
    invalid one answers 422 with the path of the problem (``tiers.levels[1].threshold``)."""

    def work(_key: str | None) -> Outcome:
        configure_programme(session, body.value, actor=principal.actor)
        return Outcome(200, jsonable_encoder(programme_route(session, principal)))

    return run_idempotent(request, principal, body.sha256, work)
