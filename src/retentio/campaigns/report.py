"""A campaign's report: the delivery funnel, and what the treated customers did against the
control group within the attribution window (``retentio campaign report``, the API).

Outcomes are counted over the audience recorded at launch, by arm, from the orders placed in
``[launched_at, launched_at + attribution_days)`` (cancelled and pending orders do not count):

- **conversion**: the share of the arm with at least one order in the window;
- **revenue per customer**: the arm's order totals in the window (before refunds, in the
  currency most of those orders use) divided by its customers;
- **repeat purchase rate**: among the arm's customers who had ordered before the launch, the
  share who ordered again in the window;
- **churn**: the share with no order in the window (its change is the opposite of the
  change in conversion, reported for the churn view).

Every customer of the holdout is compared, whether or not the treated message reached its
customer (intention to treat): skipping those who did not get it would flatter the campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Subquery,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from retentio.campaigns.lift import Arm, Difference, mean_difference, proportion_difference, verdict
from retentio.campaigns.service import AUDIENCE, find_campaign
from retentio.core.clock import Clock, SystemClock
from retentio.core.money import minor_unit_exponent
from retentio.store.arrow import EXCLUDED_STATUSES
from retentio.store.campaign_tables import Delivery, DeliveryEvent
from retentio.store.tables import Order, Timestamp

__all__ = ["CampaignReport", "Measured", "campaign_report", "delivery_funnel", "measure"]

ORDERS: Table = Order.__table__  # type: ignore[assignment]
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
EVENTS: Table = DeliveryEvent.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """The funnel, the arms' outcomes and their differences, and the verdict."""

    campaign: dict[str, Any]
    window_start: datetime | None
    window_end: datetime | None
    window_closed: bool
    currency: str | None
    funnel: dict[str, Any]
    arms: dict[str, dict[str, Any]]
    lift: dict[str, dict[str, Any]]
    incremental_revenue: dict[str, float | None]
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the API's and ``--json``'s answer."""
        return {
            "campaign": self.campaign,
            "window": {
                "start": self.window_start.isoformat() if self.window_start else None,
                "end": self.window_end.isoformat() if self.window_end else None,
                "closed": self.window_closed,
            },
            "currency": self.currency,
            "funnel": self.funnel,
            "arms": self.arms,
            "lift": self.lift,
            "incremental_revenue": self.incremental_revenue,
            "verdict": self.verdict,
        }


def campaign_report(
    session: Session, name: str | int, *, clock: Clock | None = None
) -> CampaignReport:
    """The report of the campaign ``name`` (or id), as of now."""
    now = (clock or SystemClock()).now()
    saved = find_campaign(session, name)
    funnel = delivery_funnel(session, DELIVERIES.c.campaign_id == saved.id)
    if saved.launched_at is None:
        nothing = "Not launched yet: nothing to measure."
        return CampaignReport(saved.to_dict(), None, None, False, None, funnel, {}, {}, {}, nothing)
    start = saved.launched_at
    end = start + timedelta(days=saved.definition.attribution_days)
    a = AUDIENCE.c
    units = select(
        a.arm.label("arm"),
        a.customer_id.label("customer_id"),
        literal(start, Timestamp).label("start"),
        literal(min(end, now), Timestamp).label("end"),
    ).where(a.campaign_id == saved.id)
    measured = measure(session, units.subquery())
    return CampaignReport(
        campaign=saved.to_dict(),
        window_start=start,
        window_end=end,
        window_closed=now >= end,
        currency=measured.currency,
        funnel=funnel,
        arms=measured.arms,
        lift=measured.lift,
        incremental_revenue=measured.incremental_revenue,
        verdict=measured.verdict,
    )


@dataclass(frozen=True, slots=True)
class Measured:
    """The arms' outcomes, their differences with intervals, and the verdict."""

    currency: str | None
    arms: dict[str, dict[str, Any]]
    lift: dict[str, dict[str, Any]]
    incremental_revenue: dict[str, float | None]
    verdict: str


def measure(session: Session, units: Subquery) -> Measured:
    """Treated against control over ``units``: rows of (``arm``, ``customer_id``, ``start``,
    ``end``), each counting the customer's orders in its own window (a campaign's audience
    shares one; each journey entry has its own)."""
    currency = _currency(session, units)
    arms = _arms(session, units, currency)
    treated, control = arms.get("treated", _EMPTY), arms.get("control", _EMPTY)
    conversion = proportion_difference(treated[0], control[0])
    repeat = proportion_difference(treated[1], control[1])
    revenue = mean_difference(treated[0], control[0])
    churn = _negated(conversion)
    minor = _minor_units(currency)
    revenue_major = _scaled(revenue, minor)
    incremental = {
        k: None if v is None else v * treated[0].customers
        for k, v in {
            "estimate": revenue_major.difference,
            "ci_low": revenue_major.low,
            "ci_high": revenue_major.high,
        }.items()
    }
    return Measured(
        currency=currency,
        arms={arm: _arm_dict(values, minor) for arm, values in arms.items()},
        lift={
            "conversion_rate": conversion.to_dict(),
            "revenue_per_customer": revenue_major.to_dict(),
            "repeat_purchase_rate": repeat.to_dict(),
            "churn_rate": churn.to_dict(),
        },
        incremental_revenue=incremental,
        verdict=verdict(conversion, revenue_major, currency),
    )


_EMPTY = (Arm(0), Arm(0))


def _minor_units(currency: str | None) -> int:
    return minor_unit_exponent(currency) if currency else 2


def _scaled(value: Difference, minor: int) -> Difference:
    """A difference in minor units in major units."""
    f = 10.0**-minor

    def s(x: float | None) -> float | None:
        return None if x is None else x * f

    return Difference(
        s(value.treated), s(value.control), s(value.difference), s(value.low), s(value.high)
    )


def _negated(value: Difference) -> Difference:
    """The difference of the complements (churn = 1 - conversion)."""

    def c(x: float | None) -> float | None:
        return None if x is None else 1.0 - x

    def n(x: float | None) -> float | None:
        return None if x is None else -x

    return Difference(
        c(value.treated), c(value.control), n(value.difference), n(value.high), n(value.low)
    )


def _arm_dict(values: tuple[Arm, Arm], minor: int) -> dict[str, Any]:
    everyone, buyers = values
    revenue = everyone.revenue * 10.0**-minor
    return {
        "customers": everyone.customers,
        "converted": everyone.converted,
        "conversion_rate": everyone.rate,
        "revenue": revenue,
        "revenue_per_customer": revenue / everyone.customers if everyone.customers else None,
        "prior_buyers": buyers.customers,
        "repeat_buyers": buyers.converted,
        "repeat_purchase_rate": buyers.rate,
        "churn_rate": None if everyone.rate is None else 1.0 - everyone.rate,
    }


def delivery_funnel(session: Session, mine: ColumnElement[bool]) -> dict[str, Any]:
    """The funnel of the deliveries ``mine`` selects (a campaign's, a journey's)."""
    d, e = DELIVERIES.c, EVENTS.c
    statuses = _counts(session, select(d.status, func.count()).where(mine).group_by(d.status))
    skipped = _counts(
        session,
        select(d.detail, func.count()).where(mine, d.status == "skipped").group_by(d.detail),
    )
    events = _counts(
        session,
        select(e.kind, func.count(func.distinct(e.delivery_id)))
        .join(DELIVERIES, d.id == e.delivery_id)
        .where(mine)
        .group_by(e.kind),
    )
    queued = sum(statuses.values())
    funnel: dict[str, Any] = {"queued": queued}
    for status in ("sent", "skipped", "bounced", "failed"):
        funnel[status] = statuses.get(status, 0)
    funnel["waiting"] = statuses.get("queued", 0)
    for kind in ("delivered", "opened", "clicked", "complained", "unsubscribed"):
        funnel[kind] = events.get(kind, 0)
    funnel["skipped_because"] = dict(sorted(skipped.items()))
    return funnel


def _counts(session: Session, query: Any) -> dict[str, int]:
    return {str(key): int(n) for key, n in session.execute(query)}


def _in_window(units: Subquery) -> Any:
    """An order of the unit's customer in the unit's window (not cancelled or pending)."""
    o, u = ORDERS.c, units.c
    return and_(
        o.customer_id == u.customer_id,
        o.ordered_at >= u.start,
        o.ordered_at < u.end,
        o.status.not_in(EXCLUDED_STATUSES),
    )


def _currency(session: Session, units: Subquery) -> str | None:
    """The currency most of the units' orders in their windows use (else: of all orders)."""
    o = ORDERS.c
    in_window = (
        select(o.currency)
        .select_from(units)
        .join(ORDERS, _in_window(units))
        .group_by(o.currency)
        .order_by(func.count().desc(), o.currency)
        .limit(1)
    )
    found = session.execute(in_window).scalar_one_or_none()
    if found is None:
        anywhere = select(o.currency).group_by(o.currency).order_by(func.count().desc()).limit(1)
        found = session.execute(anywhere).scalar_one_or_none()
    return None if found is None else str(found)


def _arms(session: Session, units: Subquery, currency: str | None) -> dict[str, tuple[Arm, Arm]]:
    """Per arm: (everyone, prior buyers), each with converted units and revenue sums."""
    o, u = ORDERS.c, units.c
    spend = case((o.currency == currency, o.total_minor), else_=0) if currency else 0
    earlier = ORDERS.alias("earlier")
    e = earlier.c
    prior_order = (
        select(e.id)
        .where(
            e.customer_id == u.customer_id,
            e.ordered_at < u.start,
            e.status.not_in(EXCLUDED_STATUSES),
        )
        .exists()
    )
    per_unit = (
        select(
            u.arm.label("arm"),
            func.count(o.id).label("orders"),
            func.coalesce(func.sum(spend), 0).label("revenue"),
            case((prior_order, 1), else_=0).label("prior"),
        )
        .select_from(units)
        .outerjoin(ORDERS, _in_window(units))
        .group_by(u.arm, u.customer_id, u.start, u.end)
        .subquery()
    )
    p = per_unit.c
    converted = case((p.orders > 0, 1), else_=0)
    revenue = cast(p.revenue, Float)
    query = select(
        p.arm,
        func.count(),
        func.sum(converted),
        func.sum(revenue),
        func.sum(revenue * revenue),
        func.sum(p.prior),
        func.sum(p.prior * converted),
    ).group_by(p.arm)
    arms: dict[str, tuple[Arm, Arm]] = {}
    for arm, n, conv, rev, squares, buyers, repeat in session.execute(query):
        everyone = Arm(int(n), int(conv or 0), float(rev or 0.0), float(squares or 0.0))
        arms[str(arm)] = (everyone, Arm(int(buyers or 0), int(repeat or 0)))
    return arms
