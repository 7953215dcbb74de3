"""Ingestion: batch upserts of customers, orders and events, and single-event tracking.

A batch is ``{"items": [...]}`` with up to 10,000 items. Each item is validated on its own: the
valid ones are written and the invalid ones reported by index (200 with ``failed`` and
``errors``), or with ``?atomic=true`` one invalid item rejects the batch (422) and nothing is
written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retentio.api.body import openapi_body
from retentio.api.deps import Body, DbSession, Writer
from retentio.api.idempotency import Outcome, run_idempotent
from retentio.api.problems import Problem, problem_responses
from retentio.api.schemas import BatchResultOut, TrackedOut
from retentio.ingest import (
    BatchRejected,
    BatchResult,
    CustomerIn,
    EventIn,
    OrderIn,
    ingest_customers,
    ingest_events,
    ingest_orders,
    track_event,
)

__all__ = ["BATCH_MODELS", "router"]

router = APIRouter(tags=["ingestion"])

MAX_ITEMS = 10_000


class _Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerBatch(_Batch):
    """Customers to create or update, keyed by external_id."""

    items: list[CustomerIn] = Field(max_length=MAX_ITEMS)


class OrderBatch(_Batch):
    """Orders to create or update, keyed by external_id (lines are replaced)."""

    items: list[OrderIn] = Field(max_length=MAX_ITEMS)


class EventBatch(_Batch):
    """Events to record (deduplicated by external_id when given)."""

    items: list[EventIn] = Field(max_length=MAX_ITEMS)


#: The request bodies described in OpenAPI but read by hand (for per-item errors).
BATCH_MODELS: tuple[type[BaseModel], ...] = (CustomerBatch, OrderBatch, EventBatch, EventIn)

Atomic = Annotated[bool, Query(description="Reject the whole batch (422) if any item is invalid.")]
_ERRORS = problem_responses(400, 401, 403, 409, 413, 415, 422, 429)


def _items(value: Any, limit: int) -> Sequence[Any]:
    if not isinstance(value, dict) or not isinstance(value.get("items"), list):
        raise Problem(
            "validation-error",
            'the body must be an object {"items": [...]}',
            errors=[{"field": "items", "message": "a list of items is required"}],
        )
    unknown = sorted(set(value) - {"items"})
    if unknown:
        raise Problem(
            "validation-error",
            f"unknown field(s) {', '.join(unknown)}; the body holds only items",
            errors=[{"field": name, "message": "unknown field"} for name in unknown],
        )
    items: list[Any] = value["items"]
    if len(items) > limit:
        raise Problem(
            "payload-too-large",
            f"{len(items):,} items; a batch holds at most {limit:,}: split it",
        )
    return items


def _batch(
    request: Request,
    session: Session,
    principal: Writer,
    body: Body,
    atomic: bool,
    ingest: Callable[..., BatchResult],
) -> Any:
    config = request.app.state.config
    items = _items(body.value, config.max_batch_items)

    def work(_key: str | None) -> Outcome:
        try:
            result = ingest(
                session,
                items,
                atomic=atomic,
                secret=config.secret,
                actor=principal.actor,
                lock=request.app.state.write_lock,
            )
        except BatchRejected as rejected:
            errors = [error.to_dict() for error in rejected.errors]
            raise Problem(
                "batch-rejected",
                f"{len(errors)} invalid item(s); nothing was written",
                errors=errors,
            ) from None
        return Outcome(200, result.to_dict())

    return run_idempotent(request, principal, body.sha256, work, locks_itself=True)


@router.post(
    "/customers/batch",
    response_model=BatchResultOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(CustomerBatch),
)
def customers_batch(
    request: Request, session: DbSession, principal: Writer, body: Body, atomic: Atomic = False
) -> Any:
    """Create or update up to 10,000 customers keyed by their external_id."""
    return _batch(request, session, principal, body, atomic, ingest_customers)


@router.post(
    "/orders/batch",
    response_model=BatchResultOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(OrderBatch),
)
def orders_batch(
    request: Request, session: DbSession, principal: Writer, body: Body, atomic: Atomic = False
) -> Any:
    """Create or update up to 10,000 orders (with lines and refunds) keyed by external_id."""
    return _batch(request, session, principal, body, atomic, ingest_orders)


@router.post(
    "/events/batch",
    response_model=BatchResultOut,
    responses=_ERRORS,
    openapi_extra=openapi_body(EventBatch),
)
def events_batch(
    request: Request, session: DbSession, principal: Writer, body: Body, atomic: Atomic = False
) -> Any:
    """Record up to 10,000 events; an event whose external_id is stored already is skipped."""
    return _batch(request, session, principal, body, atomic, ingest_events)


def _idempotent_id(owner: int, key: str) -> str:
    return f"idem:{hashlib.sha256(f'{owner}:{key}'.encode()).hexdigest()[:40]}"


@router.post(
    "/events",
    status_code=201,
    response_model=TrackedOut,
    responses={200: {"model": TrackedOut, "description": "Already recorded."}, **_ERRORS},
    openapi_extra=openapi_body(EventIn),
)
def track(request: Request, session: DbSession, principal: Writer, body: Body) -> Any:
    """Record one event as it happens (live tracking)."""
    item = body.value

    def work(key: str | None) -> Outcome:
        given = item
        if key is not None and isinstance(item, dict) and item.get("external_id") is None:
            # The event carries the key as its id, so a retry after a crash records it once.
            given = {**item, "external_id": _idempotent_id(principal.key.id, key)}
        try:
            tracked = track_event(
                session, given, actor=principal.actor, lock=request.app.state.write_lock
            )
        except BatchRejected as rejected:
            errors = [error.to_dict() for error in rejected.errors]
            listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise Problem("validation-error", listed, errors=errors) from None
        return Outcome(201 if tracked.created else 200, {"created": tracked.created})

    return run_idempotent(request, principal, body.sha256, work, locks_itself=True)
