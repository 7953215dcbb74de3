"""Customers: the list, a profile (orders, totals, RFM and predictions) and their orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from retentio.api.deps import DbSession, Principal, Reader
from retentio.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from retentio.api.problems import Problem, problem_responses
from retentio.api.schemas import (
    CustomerOut,
    CustomerPage,
    CustomerProfile,
    OrderLineOut,
    OrderOut,
    OrderPage,
    RefundOut,
    ScoresOut,
    TotalsOut,
)
from retentio.api.scores import ScoreCache
from retentio.ingest.models import Timestamp
from retentio.privacy.audit import record_access
from retentio.store.customers import (
    OrderTotals,
    customer_by_external_id,
    customer_orders,
    list_customers,
    order_lines,
    order_refunds,
    order_totals,
)
from retentio.store.tables import Customer, Order

__all__ = ["customer_or_404", "router"]

router = APIRouter(prefix="/customers", tags=["customers"])

_RECENT = 10


def customer_or_404(session: DbSession, external_id: str) -> Customer:
    """The customer, or a 404 problem naming the id."""
    customer = customer_by_external_id(session, external_id)
    if customer is None:
        raise Problem("not-found", f"no customer with external_id {external_id!r}")
    return customer


def _audit(
    request: Request,
    session: DbSession,
    principal: Principal,
    action: str,
    customer_id: int | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write the read to the audit log in a transaction of its own, under the write lock.

    Ending the read transaction first matters on SQLite: a read transaction that turns into a
    write fails at once (no busy wait) when another connection wrote since it began.
    """
    session.commit()
    with request.app.state.write_lock:
        record_access(session, principal.actor, action, customer_id, details or {})
        session.commit()


def _customer(row: Customer) -> CustomerOut:
    return CustomerOut(
        external_id=row.external_id,
        email=row.email,
        phone=row.phone,
        first_name=row.first_name,
        locale=row.locale,
        time_zone=row.time_zone,
        country=row.country,
        attributes=row.attributes or {},
        created_at=row.created_at,
        updated_at=row.updated_at,
        erased=row.erased_at is not None,
    )


def _orders(session: DbSession, rows: list[Order]) -> list[OrderOut]:
    ids = [row.id for row in rows]
    lines, refunds = order_lines(session, ids), order_refunds(session, ids)
    return [
        OrderOut(
            external_id=row.external_id,
            ordered_at=row.ordered_at,
            currency=row.currency,
            total_minor=row.total_minor,
            status=row.status,
            lines=[
                OrderLineOut(
                    line_no=x.line_no,
                    sku=x.sku,
                    name=x.name,
                    quantity=x.quantity,
                    amount_minor=x.amount_minor,
                )
                for x in lines[row.id]
            ],
            refunds=[
                RefundOut(
                    external_id=r.external_id,
                    refunded_at=r.refunded_at,
                    amount_minor=r.amount_minor,
                )
                for r in refunds[row.id]
            ],
        )
        for row in rows
    ]


def _totals(totals: OrderTotals) -> TotalsOut:
    first, last = totals.first_order_at, totals.last_order_at
    spacing = None
    if first is not None and last is not None and totals.orders > 1:
        spacing = (last - first).total_seconds() / 86400 / (totals.orders - 1)
    net = totals.revenue_minor - totals.refunded_minor
    return TotalsOut(
        currency=totals.currency,
        orders=totals.orders,
        revenue_minor=totals.revenue_minor,
        refunded_minor=totals.refunded_minor,
        net_revenue_minor=net,
        average_order_value_minor=round(net / totals.orders) if totals.orders else None,
        first_order_at=first if first else None,
        last_order_at=last if last else None,
        avg_days_between_orders=spacing,
    )


def _scores(cache: ScoreCache, external_id: str) -> ScoresOut:
    scores = cache.get()
    values = scores.by_customer.get(external_id, {})
    note = scores.note if values else (scores.note or "no completed orders yet")
    return ScoresOut(
        observation_end=scores.observation_end,
        computed_at=scores.computed_at,
        horizon=scores.horizon,
        note=note,
        **values,
    )


@router.get("", response_model=CustomerPage, responses=problem_responses(401, 403, 422, 429))
def list_route(
    request: Request,
    session: DbSession,
    principal: Reader,
    limit: Limit = 100,
    cursor: Cursor = None,
    email: Annotated[str | None, Query(description="Exact (normalised) e-mail.")] = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    updated_since: Annotated[
        Timestamp | None, Query(description="Changed since (with an offset).")
    ] = None,
) -> CustomerPage:
    """Customers in the order they were first stored, filtered, a page at a time."""
    rows = list_customers(
        session,
        after_id=decode_cursor(cursor),
        limit=limit,
        email=email.strip().lower() if email else None,
        country=country.upper() if country else None,
        updated_since=updated_since,
    )
    _audit(request, session, principal, "customers.list", None, {"count": len(rows)})
    more = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return CustomerPage(items=[_customer(r) for r in rows], next_cursor=more)


@router.get(
    "/{external_id}",
    response_model=CustomerProfile,
    responses=problem_responses(401, 403, 404, 429),
)
def profile_route(
    request: Request,
    session: DbSession,
    principal: Reader,
    external_id: str,
    scores: Annotated[
        bool, Query(description="Include RFM and model scores (computed over the store).")
    ] = True,
) -> CustomerProfile:
    """One customer: their data, totals per currency, latest orders, RFM segment, P(alive), CLV."""
    customer = customer_or_404(session, external_id)
    recent = customer_orders(session, customer.id, limit=_RECENT, newest_first=True)
    profile = CustomerProfile(
        customer=_customer(customer),
        totals=[_totals(t) for t in order_totals(session, customer.id)],
        recent_orders=_orders(session, recent),
        scores=_scores(request.app.state.scores, external_id)
        if scores and customer.erased_at is None
        else None,
    )
    _audit(request, session, principal, "customer.read", customer.id)
    return profile


@router.get(
    "/{external_id}/orders",
    response_model=OrderPage,
    responses=problem_responses(401, 403, 404, 422, 429),
)
def orders_route(
    request: Request,
    session: DbSession,
    principal: Reader,
    external_id: str,
    limit: Limit = 100,
    cursor: Cursor = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> OrderPage:
    """A customer's orders with lines and refunds, oldest first, a page at a time."""
    customer = customer_or_404(session, external_id)
    rows = customer_orders(
        session, customer.id, after_id=decode_cursor(cursor), limit=limit, status=status
    )
    _audit(request, session, principal, "customer.orders.read", customer.id)
    more = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return OrderPage(items=_orders(session, rows), next_cursor=more)
