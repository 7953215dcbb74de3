"""The subscriptions' report (``retentio subscriptions report``, ``GET
/api/v1/subscriptions/report``): the subscriptions live at a date, MRR and ARR, churn, pauses
and save offers over the days up to it, and the start-month cohorts' survival with their sBG
projection. The tables are read in bulk (:mod:`retentio.store.subscription_arrow`) and the
figures computed by :mod:`retentio.analytics.subscriptions` and
:func:`retentio.clv.project_cohorts`."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from retentio.analytics.subscriptions import (
    active_subscriptions,
    cohort_survival,
    pause_rates,
    recurring_revenue,
    save_offer_acceptance,
    subscription_churn,
    subscription_order_totals,
)
from retentio.clv.cohorts import project_cohorts
from retentio.core.errors import ConfigurationError
from retentio.core.money import minor_unit_exponent
from retentio.store.subscription_arrow import SubscriptionTables, read_subscriptions

__all__ = ["REPORT_COHORTS", "REPORT_DAYS", "subscription_report", "subscription_report_of"]

#: The days up to the report's date that churn, pauses, save offers and orders count.
REPORT_DAYS = 30
#: The newest start-month cohorts the report shows.
REPORT_COHORTS = 12
#: Months projected past each cohort's last observed one, and the months of its capped
#: lifetime (five years).
_HORIZON, _CAP = 12, 60


def _number(value: Any) -> Any:
    """A JSON-ready number: NaN and infinities as None, numpy's as Python's."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _money(value: float, currency: str) -> str:
    return f"{value:.{minor_unit_exponent(currency)}f}"


def _rows(table: pd.DataFrame, money: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    rows = []
    for row in table.to_dict("records"):
        rows.append(
            {
                str(k): _money(v, row["currency"]) if k in money else _number(v)
                for k, v in row.items()
            }
        )
    return rows


def _cohorts(tables: SubscriptionTables, as_of: date, newest: int) -> list[dict[str, Any]]:
    survival = cohort_survival(tables.subscriptions, as_of=as_of)
    shown = sorted(set(survival["cohort"]))[-newest:] if newest > 0 else []
    projection = project_cohorts(
        survival[survival["cohort"].isin(shown)], horizon=_HORIZON, cap=_CAP
    )
    curves = projection.curves
    found = []
    for row in _rows(projection.cohorts):
        counts = survival[survival["cohort"] == row["cohort"]]
        curve = curves[curves["cohort"] == row["cohort"]]
        found.append(
            {
                **row,
                "active": [int(v) for v in counts["active"]],
                "survival": [float(v) for v in counts["share"]],
                "projected": [_number(v) for v in curve["projected"]] if row["fitted"] else [],
            }
        )
    return found


def subscription_report(
    tables: SubscriptionTables,
    *,
    as_of: date,
    days: int = REPORT_DAYS,
    cohorts: int = REPORT_COHORTS,
) -> dict[str, Any]:
    """Every figure of the report, as JSON-ready values (amounts as strings in major units;
    NaN and infinity as null). ``days``: the window (ending on ``as_of``) of churn, pauses,
    save offers and orders; ``cohorts``: the newest start-month cohorts shown."""
    if days < 1:
        raise ConfigurationError(f"days: 1 or more, got {days}")
    start = as_of - timedelta(days=days - 1)
    subs, events = tables.subscriptions, tables.events
    live = active_subscriptions(subs, events, as_of=as_of)
    churn = subscription_churn(subs, start=start, end=as_of)
    pauses = pause_rates(subs, events, start=start, end=as_of)
    return {
        "as_of": as_of.isoformat(),
        "window": {"start": start.isoformat(), "end": as_of.isoformat(), "days": days},
        "subscriptions": {
            "active": live.active,
            "paused": live.paused,
            "past_due": live.past_due,
            "live": live.live,
        },
        "revenue": _rows(recurring_revenue(subs, events, as_of=as_of), ("mrr", "arr")),
        "churn": {
            "live_at_start": churn.live_at_start,
            "started": churn.started,
            "at_risk": churn.at_risk,
            "cancelled": churn.cancelled,
            "voluntary": churn.voluntary,
            "involuntary": churn.involuntary,
            "expired": churn.expired,
            "churn_rate": _number(churn.churn_rate),
            "voluntary_rate": _number(churn.voluntary_rate),
            "involuntary_rate": _number(churn.involuntary_rate),
        },
        "pauses": {
            "subscriptions": pauses.subscriptions,
            "paused_subscriptions": pauses.paused_subscriptions,
            "pauses": pauses.pauses,
            "resumed": pauses.resumed,
            "cancelled": pauses.cancelled,
            "still_paused": pauses.still_paused,
            "pause_rate": _number(pauses.pause_rate),
            "resume_rate": _number(pauses.resume_rate),
        },
        "save_offers": _rows(save_offer_acceptance(events, start=start, end=as_of)),
        "orders": _rows(
            subscription_order_totals(tables.orders, start=start, end=as_of),
            ("amount", "paid_amount"),
        ),
        "cohorts": _cohorts(tables, as_of, cohorts),
    }


def subscription_report_of(
    engine: Engine, *, as_of: date, days: int = REPORT_DAYS, cohorts: int = REPORT_COHORTS
) -> dict[str, Any]:
    """:func:`subscription_report` of the store ``engine`` is on (read in bulk)."""
    return subscription_report(read_subscriptions(engine), as_of=as_of, days=days, cohorts=cohorts)
