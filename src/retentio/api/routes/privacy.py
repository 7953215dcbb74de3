"""The privacy duties over HTTP: access export, erasure and the audit log (admin keys)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from retentio.api.deps import Admin, Body, DbSession
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.pagination import decode_cursor, encode_cursor
from retentio.api.problems import Problem, problem_responses
from retentio.api.schemas import AuditOut, AuditPage, ErasureOut
from retentio.ingest.models import Timestamp
from retentio.privacy import audit_entries, erase_person, export_person, export_zip

__all__ = ["router"]

router = APIRouter(tags=["privacy"])


@router.get(
    "/customers/{external_id}/export",
    responses={
        200: {
            "description": "Everything held on the person: JSON (retentio.person-export, "
            "validated by its JSON schema) or a zip of it with one CSV per section.",
            "content": {"application/zip": {}},
        },
        **problem_responses(401, 403, 404, 429),
    },
)
def export_route(
    session: DbSession,
    principal: Admin,
    external_id: str,
    format: Annotated[Literal["json", "zip"], Query(description="json or zip.")] = "json",
) -> Any:
    """Everything held on one person (a data subject access request); the read is audited."""
    document = export_person(session, external_id, actor=principal.actor)
    if format == "zip":
        return Response(
            export_zip(document),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="person-export.zip"'},
        )
    return document


@router.post(
    "/customers/{external_id}/erase",
    response_model=ErasureOut,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429),
)
def erase_route(
    request: Request, session: DbSession, principal: Admin, external_id: str, body: Body
) -> Any:
    """Erase a person: PII removed everywhere, orders kept pseudonymised, addresses suppressed.

    Send ``{}`` (or ``{"reason": "..."}``). Erasing twice is harmless.
    """
    value = body.value
    if not isinstance(value, dict) or set(value) - {"reason"}:
        raise Problem(
            "validation-error",
            'the body must be {} or {"reason": "..."}',
            errors=[{"field": "body", "message": "only reason is allowed"}],
        )
    reason = value.get("reason", "request")
    if not isinstance(reason, str) or not 0 < len(reason) <= 40:
        raise Problem(
            "validation-error",
            "reason: 1 to 40 characters",
            errors=[{"field": "reason", "message": "1 to 40 characters"}],
        )
    secret = request.app.state.config.secret
    if secret is None:
        raise Problem("internal-error", "the server has no secret key to key the suppression list")

    def work(_key: str | None) -> Outcome:
        report = erase_person(session, secret, external_id, actor=principal.actor, reason=reason)
        request.app.state.scores.invalidate()
        return Outcome(200, report.to_dict())

    return run_idempotent(request, principal, body.sha256, work)


@router.get(
    "/audit", response_model=AuditPage, responses=problem_responses(401, 403, 404, 422, 429)
)
def audit_route(
    session: DbSession,
    _principal: Admin,
    customer: Annotated[str | None, Query(description="The shop's customer id.")] = None,
    actor: Annotated[str | None, Query(description="e.g. api:<key prefix> or cli:<user>")] = None,
    action: Annotated[str | None, Query(description="e.g. customer.read, customer.erase")] = None,
    since: Annotated[
        Timestamp | None, Query(description="From this time (with an offset).")
    ] = None,
    until: Annotated[Timestamp | None, Query(description="Before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query()] = None,
) -> AuditPage:
    """Who read or changed which person's data, when: oldest first, a page at a time."""
    records = audit_entries(
        session,
        customer=customer,
        actor=actor,
        action=action,
        since=since,
        until=until,
        after_id=decode_cursor(cursor),
        limit=limit,
    )
    more = encode_cursor(records[-1].id) if len(records) == limit else None
    return AuditPage(items=[AuditOut(**r.to_dict()) for r in records], next_cursor=more)
