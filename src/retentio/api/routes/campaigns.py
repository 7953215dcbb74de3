"""Campaigns over the API: save a draft, list, preview, launch, and the report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from retentio.api.body import openapi_body, require_empty
from retentio.api.campaign_schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPreviewIn,
    CampaignPreviewOut,
    CampaignReportOut,
    LaunchOut,
)
from retentio.api.deps import Body, DbSession, Reader, Writer
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.problems import problem_responses
from retentio.campaigns import (
    CampaignNotFound,
    find_campaign,
    launch_campaign,
    list_campaigns,
    save_campaign,
)
from retentio.campaigns.preview import preview_campaign
from retentio.campaigns.report import campaign_report
from retentio.core.clock import SystemClock

__all__ = ["BODY_MODELS", "router"]

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

BODY_MODELS = (CampaignIn, CampaignPreviewIn)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)
_READ_ERRORS = problem_responses(401, 403, 404, 422, 429)


def _campaign_key(campaign: str) -> str | int:
    """A campaign is named by its id or its name."""
    return int(campaign) if campaign.isdigit() and len(campaign) < 12 else campaign


@router.get("", response_model=list[CampaignOut], responses=_READ_ERRORS)
def list_route(session: DbSession, _principal: Reader) -> Any:
    """The campaigns, newest first."""
    return [campaign.to_dict() for campaign in list_campaigns(session)]


@router.post(
    "",
    status_code=201,
    response_model=CampaignOut,
    responses={200: {"model": CampaignOut, "description": "A draft replaced."}, **_WRITE_ERRORS},
    openapi_extra=openapi_body(CampaignIn),
)
def save_route(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """Save a campaign as a draft, or replace the draft of the same name (200). A launched
    campaign cannot change (409); an invalid definition answers 422 naming the path of the
    problem (``message.da.subject``)."""
    name = body.value.get("name") if isinstance(body.value, dict) else None

    def work(_key: str | None) -> Outcome:
        try:
            existing = find_campaign(session, str(name)) if isinstance(name, str) else None
        except CampaignNotFound:
            existing = None
        saved = save_campaign(session, body.value, replace=existing is not None)
        return Outcome(200 if existing is not None else 201, saved.to_dict())

    return run_idempotent(request, principal, body.sha256, work)


@router.get("/{campaign}", response_model=CampaignOut, responses=_READ_ERRORS)
def get_route(session: DbSession, _principal: Reader, campaign: str) -> Any:
    """A campaign, by id or name."""
    return find_campaign(session, _campaign_key(campaign)).to_dict()


@router.post(
    "/{campaign}/preview",
    response_model=CampaignPreviewOut,
    responses=_WRITE_ERRORS,
    openapi_extra=openapi_body(CampaignPreviewIn),
)
def preview_route(
    request: Request, session: DbSession, _principal: Reader, campaign: str, body: Body
) -> Any:
    """The message as one customer would get it; nothing is sent or written."""
    wanted = CampaignPreviewIn.model_validate(body.value)
    config = request.app.state.config
    preview = preview_campaign(
        session,
        find_campaign(session, _campaign_key(campaign)).definition,
        secret=config.secret,
        now=SystemClock().now(),
        customer=wanted.customer,
        locale=wanted.locale,
        public_url=config.public_url,
    )
    return preview.to_dict()


@router.post("/{campaign}/launch", response_model=LaunchOut, responses=_WRITE_ERRORS)
def launch_route(
    request: Request, session: DbSession, principal: Writer, campaign: str, body: Body
) -> Any:
    """Record the audience and queue the messages (the worker sends them). Send ``{}``.
    Launching twice answers 409."""
    require_empty(body)
    share = request.app.state.config.global_control

    def work(_key: str | None) -> Outcome:
        result = launch_campaign(session, _campaign_key(campaign), global_control=share)
        return Outcome(200, result.to_dict())

    return run_idempotent(request, principal, body.sha256, work)


@router.get("/{campaign}/report", response_model=CampaignReportOut, responses=_READ_ERRORS)
def report_route(session: DbSession, _principal: Reader, campaign: str) -> Any:
    """The delivery funnel and, within the attribution window, treated against control:
    conversion, revenue per customer, repeat purchase and churn, with 95 % intervals,
    incremental revenue and a verdict."""
    return campaign_report(session, _campaign_key(campaign)).to_dict()
