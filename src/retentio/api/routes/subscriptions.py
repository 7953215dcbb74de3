"""Subscriptions over the API: made, read and listed; paused, resumed, skipped, swapped,
changed, ordered now and cancelled (with the save offers); the orders they make and the
payment outcomes the shop's provider reports (docs/subscriptions.md).

Every POST runs once per Idempotency-Key, and each change is keyed in the subscription's
history too (the body's ``key``, else the header), so a retry changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy.orm import Session

from retentio.api.body import openapi_body, parse_body
from retentio.api.deps import Admin, Body, DbSession, Reader, Writer
from retentio.api.idempotency import HEADER, Outcome, run_idempotent
from retentio.api.problems import Problem, problem_responses
from retentio.api.routes import subscription_report
from retentio.api.routes.consent import public_url
from retentio.api.subscription_schemas import (
    CancelIn,
    ChangeIn,
    PauseIn,
    PaymentIn,
    ResumeIn,
    SkipIn,
    SubscriptionIn,
    SubscriptionOut,
    SwapIn,
)
from retentio.core.clock import SystemClock
from retentio.core.errors import CurrencyError, MoneyError
from retentio.core.money import Money
from retentio.core.signing import Signer
from retentio.subscriptions import (
    Cadence,
    SubscriptionView,
    cancel_subscription,
    change_subscription,
    configure_policy,
    create_subscription,
    current_policy,
    get_subscription,
    list_subscriptions,
    order_now,
    pause_subscription,
    record_payment,
    resume_subscription,
    skip_order,
    subscription_history,
    subscription_orders,
    swap_product,
)
from retentio.subscriptions.links import SUBSCRIPTION_LINK_TTL, subscription_token

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])
# The static paths first: /{subscription_id} would take "report".
router.include_router(subscription_report.router)
BODY_MODELS = (SubscriptionIn, PauseIn, ResumeIn, SkipIn, SwapIn, ChangeIn, CancelIn, PaymentIn)
_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)
_MAX_ID = 2**63 - 1
SubscriptionId = Annotated[int, Path(ge=1, le=_MAX_ID)]


def _json(view: SubscriptionView) -> dict[str, Any]:
    return SubscriptionOut.model_validate(view.to_dict()).model_dump(mode="json")


def _request_key(request: Request, given: str | None) -> str | None:
    return given or request.headers.get(HEADER)


def _minor(field: str, amount: str, currency: str) -> int:
    try:
        return Money.from_major(amount, currency).minor
    except (MoneyError, CurrencyError, ValueError) as exc:
        raise Problem("validation-error", f"{field}: {exc}") from None


def _change(
    request: Request,
    session: Session,
    principal: Any,
    body: Any,
    work: Callable[[], SubscriptionView],
) -> Any:
    """``work`` once per Idempotency-Key (again after a PostgreSQL deadlock): the view."""
    return run_idempotent(
        request, principal, body.sha256, lambda _k: Outcome(200, _json(work())), session=session
    )


def _act(
    request: Request,
    session: Session,
    principal: Any,
    body: Any,
    subscription_id: int,
    act: Callable[..., SubscriptionView],
    key: str | None,
    **fields: Any,
) -> Any:
    """``act`` (a change of :mod:`retentio.subscriptions` taking the policy) on the
    subscription, once per Idempotency-Key: with the policy in force, the change's key (the
    body's, else the header's), now and the caller."""
    return _change(
        request,
        session,
        principal,
        body,
        lambda: act(
            session,
            current_policy(session),
            subscription_id,
            **fields,
            key=_request_key(request, key),
            now=SystemClock().now(),
            actor=principal.actor,
        ),
    )


# -- the static paths first: /orders, /payments, /policy are not subscription ids --------


@router.get("/orders", responses=_ERRORS)
def orders_route(
    session: DbSession,
    _principal: Reader,
    status: str | None = Query(default=None, pattern="^(pending|retrying|paid|cancelled)$"),
    subscription: int | None = Query(default=None, ge=1, le=_MAX_ID),
    after: int = Query(default=0, ge=0, le=_MAX_ID),
    limit: int = Query(default=100, ge=1, le=1000),
) -> Any:
    """The orders the subscriptions made, oldest first (``after`` the last id seen): the
    shop fulfils and charges the ``pending`` ones."""
    found = subscription_orders(
        session, subscription_id=subscription, status=status, after=after, limit=limit
    )
    return jsonable_encoder({"orders": found, "next_after": found[-1]["id"] if found else None})


@router.post("/payments", responses=_ERRORS, openapi_extra=openapi_body(PaymentIn))
def payment_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """A payment outcome from the shop's provider: ``succeeded``, or ``failed`` (the dunning
    schedule; the last failure cancels the subscription)."""
    given = parse_body(PaymentIn, body.value)

    def work(_key: str | None) -> Outcome:
        recorded = record_payment(
            session,
            current_policy(session),
            given.order,
            outcome=given.outcome,
            reference=given.reference,
            reason=given.reason,
            key=_request_key(request, given.key),
            now=SystemClock().now(),
            actor=principal.actor,
        )
        return Outcome(200, jsonable_encoder(recorded.to_dict()))

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.get("/policy", responses=_ERRORS)
def policy_route(session: DbSession, _principal: Reader) -> Any:
    """The policy in force: renewal time, pauses, dunning, reasons and their offers."""
    policy = current_policy(session)
    return {
        "renewal_time": policy.renewal_time.isoformat("minutes"),
        "max_pause_days": policy.max_pause_days,
        "pause_days": policy.pause_days,
        "pause_reminder_days": policy.pause_reminder_days,
        "dunning": list(policy.dunning_days),
        "discount": {
            "percent": policy.discount_percent,
            "cycles": policy.discount_cycles,
            "cooldown_days": policy.discount_cooldown_days,
        },
        "reasons": [
            {"code": r.code, "label": dict(r.label), "offers": list(r.offers)}
            for r in policy.reasons
        ],
    }


@router.put("/policy", responses=_ERRORS)
def configure_route(request: Request, session: DbSession, principal: Admin, body: Body) -> Any:
    """Check a policy and save it as the next version, in force at once (422 names the path
    of a problem)."""

    def work(_key: str | None) -> Outcome:
        configure_policy(session, body.value, actor=principal.actor, now=SystemClock().now())
        return Outcome(200, policy_route(session, principal))

    return run_idempotent(request, principal, body.sha256, work, session=session)


# -- subscriptions -------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(SubscriptionIn),
)
def create_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """A new subscription for a customer: items, cadence, currency, and optionally the first
    order's date, a number of cycles and the shop's own id. A repeated key answers 200."""
    given = parse_body(SubscriptionIn, body.value)

    def work(_key: str | None) -> Outcome:
        items = [
            {"product": i.product, "quantity": i.quantity, "price": i.price} for i in given.items
        ]
        made = create_subscription(
            session,
            current_policy(session),
            customer=given.customer,
            items=items,
            cadence=Cadence.checked(given.cadence.unit, given.cadence.count),
            currency=given.currency,
            first_order_on=given.first_order_on,
            max_cycles=given.max_cycles,
            external_id=given.external_id,
            key=_request_key(request, given.key),
            now=SystemClock().now(),
            actor=principal.actor,
        )
        return Outcome(200 if made.repeated else 201, _json(made))

    return run_idempotent(request, principal, body.sha256, work, session=session)


@router.get("", responses=_ERRORS)
def list_route(
    session: DbSession,
    _principal: Reader,
    customer: str | None = None,
    status: str | None = Query(
        default=None, pattern="^(active|paused|past_due|cancelled|expired)$"
    ),
    after: int = Query(default=0, ge=0, le=_MAX_ID),
    limit: int = Query(default=100, ge=1, le=1000),
) -> Any:
    """Subscriptions in the order they were made, by customer and status."""
    found = list_subscriptions(session, customer=customer, status=status, after=after, limit=limit)
    return jsonable_encoder(
        {"subscriptions": found, "next_after": found[-1]["id"] if found else None}
    )


@router.get("/{subscription_id}", response_model=SubscriptionOut, responses=_ERRORS)
def get_route(session: DbSession, _principal: Reader, subscription_id: SubscriptionId) -> Any:
    """A subscription: status, cadence, next order and its amount, items, pauses, skips."""
    return _json(get_subscription(session, subscription_id))


@router.get("/{subscription_id}/link", responses=_ERRORS)
def link_route(
    request: Request, session: DbSession, _principal: Writer, subscription_id: SubscriptionId
) -> Any:
    """A signed link to the customer's page of this subscription (``/s/{token}``, valid 90
    days), for the shop's own messages; campaign messages carry one as ``subscription_url``."""
    get_subscription(session, subscription_id)  # 404 for an unknown one
    signer: Signer | None = request.app.state.signer
    if signer is None:
        raise Problem("internal-error", "the server has no secret key to sign links with")
    now = SystemClock().now()
    token = subscription_token(signer, subscription_id, SUBSCRIPTION_LINK_TTL)
    return jsonable_encoder(
        {"url": public_url(request, f"/s/{token}"), "expires_at": now + SUBSCRIPTION_LINK_TTL}
    )


@router.get("/{subscription_id}/history", responses=_ERRORS)
def history_route(session: DbSession, _principal: Reader, subscription_id: SubscriptionId) -> Any:
    """Everything that happened to the subscription, newest first."""
    get_subscription(session, subscription_id)  # 404 for an unknown one
    return jsonable_encoder({"events": subscription_history(session, subscription_id)})


def _action(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "response_model": SubscriptionOut,
        "responses": _ERRORS,
        "openapi_extra": openapi_body(model),
    }


@router.post("/{subscription_id}/pause", **_action(PauseIn))
def pause_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: Body,
    subscription_id: SubscriptionId,
) -> Any:
    """Pause until a date, for N orders, or open-ended (the policy's longest pause); from a
    later date with ``starting``."""
    given = parse_body(PauseIn, body.value)
    return _act(
        request,
        session,
        principal,
        body,
        subscription_id,
        pause_subscription,
        given.key,
        until=given.until,
        cycles=given.cycles,
        starting=given.starting,
    )


@router.post("/{subscription_id}/resume", **_action(ResumeIn))
def resume_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: Body,
    subscription_id: SubscriptionId,
) -> Any:
    """Resume now, or on a later date; resuming an active subscription changes nothing."""
    given = parse_body(ResumeIn, body.value)
    return _act(
        request,
        session,
        principal,
        body,
        subscription_id,
        resume_subscription,
        given.key,
        on=given.on,
    )


@router.post("/{subscription_id}/skip", **_action(SkipIn))
def skip_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: Body,
    subscription_id: SubscriptionId,
) -> Any:
    """Skip the next order, or the one on ``on``."""
    given = parse_body(SkipIn, body.value)
    return _act(
        request, session, principal, body, subscription_id, skip_order, given.key, on=given.on
    )


@router.post("/{subscription_id}/swap", **_action(SwapIn))
def swap_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: Body,
    subscription_id: SubscriptionId,
) -> Any:
    """Swap a product for another (at ``price``, or the same price)."""
    given = parse_body(SwapIn, body.value)

    def work() -> SubscriptionView:
        view = get_subscription(session, subscription_id)
        price = None if given.price is None else _minor("price", given.price, view.body["currency"])
        return swap_product(
            session,
            subscription_id,
            product=given.product,
            to=given.to,
            price_minor=price,
            key=_request_key(request, given.key),
            now=SystemClock().now(),
            actor=principal.actor,
        )

    return _change(request, session, principal, body, work)


@router.post("/{subscription_id}/change", **_action(ChangeIn))
def change_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: Body,
    subscription_id: SubscriptionId,
) -> Any:
    """Change quantities, the cadence or the next order's date."""
    given = parse_body(ChangeIn, body.value)
    cadence = (
        None if given.cadence is None else Cadence.checked(given.cadence.unit, given.cadence.count)
    )
    return _act(
        request,
        session,
        principal,
        body,
        subscription_id,
        change_subscription,
        given.key,
        quantities=given.quantities,
        cadence=cadence,
        next_order_on=given.next_order_on,
    )


@router.post("/{subscription_id}/order-now", **_action(SkipIn))
def order_now_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: Body,
    subscription_id: SubscriptionId,
) -> Any:
    """Make the next order now; the schedule counts on from today. Body: ``{}`` or a key."""
    given = parse_body(SkipIn, body.value)
    if given.on is not None:
        raise Problem("validation-error", "on: order-now takes no date")
    return _act(request, session, principal, body, subscription_id, order_now, given.key)


@router.post("/{subscription_id}/cancel", responses=_ERRORS, openapi_extra=openapi_body(CancelIn))
def cancel_route(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: Body,
    subscription_id: SubscriptionId,
) -> Any:
    """The cancellation flow: with a ``reason`` only, the save offers it gets (nothing is
    cancelled); with ``accept``, take one; with ``confirm: true``, cancel."""
    given = parse_body(CancelIn, body.value)

    def work(_k: str | None) -> Outcome:
        outcome = cancel_subscription(
            session,
            current_policy(session),
            subscription_id,
            reason=given.reason,
            note=given.note,
            accept=given.accept,
            swap_from=given.swap_from,
            swap_to=given.swap_to,
            confirm=given.confirm,
            key=_request_key(request, given.key),
            now=SystemClock().now(),
            actor=principal.actor,
        )
        answer = outcome.to_dict()
        answer["subscription"] = _json(outcome.subscription)
        return Outcome(200, jsonable_encoder(answer))

    return run_idempotent(request, principal, body.sha256, work, session=session)
