"""The providers' webhooks: the texts people send back (STOP, START, HELP), SMS delivery
reports, and e-mail events (delivered, bounced, complained). The provider (or the small
adapter in front of it) calls them with a write key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from retentio.api.body import openapi_body, parse_body
from retentio.api.channel_schemas import (
    EmailEventIn,
    InboundSmsIn,
    InboundSmsOut,
    SmsReportIn,
    SmsReportOut,
)
from retentio.api.deps import Body, DbSession, Writer
from retentio.api.problems import Problem, problem_responses
from retentio.campaigns.delivery_reports import record_delivery_report, record_email_event
from retentio.core.clock import SystemClock
from retentio.privacy.sms_keywords import answer_keyword

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(tags=["sms", "email"])
BODY_MODELS = (InboundSmsIn, SmsReportIn, EmailEventIn)
_ERRORS = problem_responses(400, 401, 403, 404, 413, 415, 422, 429)


def _secret(request: Request) -> bytes:
    secret: bytes | None = request.app.state.config.secret
    if secret is None:
        raise Problem("internal-error", "the server has no secret key for the suppression list")
    return secret


@router.post(
    "/sms/inbound",
    response_model=InboundSmsOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(InboundSmsIn),
)
def inbound_route(request: Request, session: DbSession, _principal: Writer, body: Body) -> Any:
    """A text someone sent: STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) puts the number on
    the suppression list, START lifts that, HELP says who is texting. Send back ``reply``
    when it is not null; a second STOP gets none (one confirmation)."""
    given = parse_body(InboundSmsIn, body.value)
    shop = request.app.state.config.sms_from or "us"
    answer = answer_keyword(
        session, _secret(request), sender=given.sender, text=given.text, shop=shop
    )
    return answer.to_dict()


@router.post(
    "/sms/reports",
    response_model=SmsReportOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(SmsReportIn),
)
def report_route(request: Request, session: DbSession, _principal: Writer, body: Body) -> Any:
    """A delivery report on a message, named by the id the provider answered with. A failure
    whose reason is about the number (invalid_number, unreachable, blocked, opted_out,
    landline) bounces the message and suppresses the number; a repeat changes nothing."""
    given = parse_body(SmsReportIn, body.value)
    outcome = record_delivery_report(
        session,
        _secret(request),
        channel="sms",
        provider_id=given.id,
        status=given.status,
        reason=given.reason,
        at=given.at or SystemClock().now(),
    )
    return outcome.to_dict()


@router.post(
    "/email/events",
    response_model=SmsReportOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(EmailEventIn),
)
def email_event_route(request: Request, session: DbSession, _principal: Writer, body: Body) -> Any:
    """An e-mail provider's event: ``delivered``; ``bounced`` (``hard`` suppresses the address
    at once); ``complained`` (a spam complaint: the address is suppressed and the e-mail
    consent withdrawn). A repeat changes nothing."""
    given = parse_body(EmailEventIn, body.value)
    with request.app.state.write_lock:
        outcome = record_email_event(
            session,
            _secret(request),
            message_id=given.message_id,
            event=given.event,
            bounce=given.bounce,
            reason=given.reason,
            at=given.at or SystemClock().now(),
        )
    return outcome.to_dict()
