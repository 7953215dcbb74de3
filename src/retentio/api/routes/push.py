"""Push over the API: the key browsers subscribe with, and registering or revoking the devices
of a customer (the shop's site or app, through its back end, with a write key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from retentio.api.body import openapi_body, parse_body
from retentio.api.channel_schemas import (
    PushRevokeIn,
    PushRevokeOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
    VapidKeyOut,
)
from retentio.api.deps import Body, DbSession, Writer
from retentio.api.problems import Problem, problem_responses
from retentio.campaigns.push_subscriptions import (
    register_push_subscription,
    revoke_push_subscription,
)
from retentio.core.clock import SystemClock

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(tags=["push"])
BODY_MODELS = (PushSubscriptionIn, PushRevokeIn)
_ERRORS = problem_responses(400, 401, 403, 404, 413, 415, 422, 429)


@router.get("/push/vapid-public-key", response_model=VapidKeyOut, responses=problem_responses(404))
def vapid_key_route(request: Request) -> Any:
    """The shop's VAPID public key, for ``pushManager.subscribe({applicationServerKey})`` in
    the browser. Public: it is a public key, and the shop's pages need it without a key."""
    key: str | None = request.app.state.config.vapid_public_key
    if key is None:
        raise Problem("not-found", "Web Push is not set up (RETENTIO_VAPID_PRIVATE_KEY_FILE)")
    return {"public_key": key}


@router.post(
    "/customers/{external_id}/push-subscriptions",
    status_code=201,
    response_model=PushSubscriptionOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(PushSubscriptionIn),
)
def register_route(session: DbSession, _principal: Writer, external_id: str, body: Body) -> Any:
    """Register a device: a browser's subscription as ``PushSubscription.toJSON()`` gives it
    (``{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}``), or ``{"kind": "gateway",
    "token": ..., "platform": "ios"}``. Registering it again renews it."""
    given = parse_body(PushSubscriptionIn, body.value)
    endpoint = (given.token if given.kind == "gateway" else given.endpoint) or ""
    device = register_push_subscription(
        session,
        external_id,
        kind=given.kind,
        endpoint=endpoint,
        p256dh=given.keys.p256dh if given.keys else None,
        auth=given.keys.auth if given.keys else None,
        platform=given.platform,
        now=SystemClock().now(),
    )
    return device.to_dict()


@router.post(
    "/customers/{external_id}/push-subscriptions/revoke",
    response_model=PushRevokeOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(PushRevokeIn),
)
def revoke_route(session: DbSession, _principal: Writer, external_id: str, body: Body) -> Any:
    """Stop pushing to a device (the customer turned notifications off)."""
    given = parse_body(PushRevokeIn, body.value)
    done = revoke_push_subscription(session, external_id, given.endpoint, now=SystemClock().now())
    return {"revoked": done}
