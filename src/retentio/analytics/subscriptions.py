"""Subscription analytics: subscriptions live at a date, MRR and ARR, churn split voluntary and
involuntary, pauses and how they end, the save offers' acceptance and the cohorts' survival.
Pure functions over tables: no database, no clock. (The sBG projection of the cohorts, which
needs the models, is :func:`retentio.clv.project_cohorts`.)

The tables are pyarrow Tables or pandas (or polars) DataFrames with these columns;
``retentio.store.subscription_arrow.read_subscriptions`` reads them from the store.

**subscriptions**, one row per subscription (:data:`SUBSCRIPTIONS_SCHEMA`):

| column            | type                  | meaning                                            |
|-------------------|-----------------------|----------------------------------------------------|
| subscription_id   | int64                 | the subscription's id, as in the events            |
| customer_id       | string                | the shop's customer id                             |
| status            | string                | now: active, paused, past_due, cancelled, expired  |
| currency          | string                | ISO 4217 code of its amounts                       |
| cadence_unit      | string                | day, week or month ...                             |
| cadence_count     | int64                 | ... every ``cadence_count`` of them                |
| next_amount_minor | int64                 | the next order's amount in minor units (its items  |
|                   |                       | less a save offer's discount left for it)          |
| started_at        | timestamp[us, tz=UTC] | the subscription was made                          |
| ended_at          | timestamp[us, tz=UTC] | cancelled or expired then; null while it lives     |
| cancel_reason     | string (nullable)     | the reason code; ``payment_failed``: involuntary   |

**events**, the subscriptions' history (:data:`SUBSCRIPTION_EVENTS_SCHEMA`): ``event_id``
(int64, in the order they happened), ``subscription_id``, ``kind`` (created,
subscription_paused, subscription_resumed, offer_shown, offer_accepted, offer_declined,
subscription_cancelled, expired, payment_failed, payment_succeeded, ...: the kinds the
functions read are :data:`SUBSCRIPTION_EVENT_KINDS`), ``reason`` and ``offer`` (nullable: the
cancellation reason and the save offer of offer events), ``voluntary`` (nullable bool, of
``subscription_cancelled``) and ``occurred_at``.

**orders**, one row per order a subscription made (:data:`SUBSCRIPTION_ORDERS_SCHEMA`):
subscription_id; ``cycle``; ``kind`` (renewal, order_now); ``due_on`` (date);
``amount_minor``; ``currency``; ``status`` (pending, paid, retrying, cancelled);
``created_at``; ``paid_at`` (nullable).

Dates (``as_of``, ``start``, ``end``) are UTC calendar days, both ends of a window included.
A subscription is *live* from ``started_at`` until ``ended_at``: active, paused or past due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd
import pyarrow as pa

from retentio.analytics._input import as_date
from retentio.analytics._subscription_input import (
    day_end,
    events_before,
    frame,
    ratio,
    subscriptions_frame,
    utc,
    window,
)
from retentio.analytics.subscription_cohorts import cohort_survival
from retentio.analytics.subscription_saves import PauseRates, pause_rates, save_offer_acceptance
from retentio.core.errors import DataError
from retentio.core.money import minor_unit_exponent

__all__ = [
    "INVOLUNTARY_REASON",
    "MONTHS_PER_UNIT",
    "SUBSCRIPTIONS_SCHEMA",
    "SUBSCRIPTION_EVENTS_SCHEMA",
    "SUBSCRIPTION_EVENT_KINDS",
    "SUBSCRIPTION_ORDERS_SCHEMA",
    "ActiveSubscriptions",
    "PauseRates",
    "SubscriptionChurn",
    "active_subscriptions",
    "cohort_survival",
    "pause_rates",
    "recurring_revenue",
    "save_offer_acceptance",
    "subscription_churn",
    "subscription_order_totals",
    "subscription_status",
]

INVOLUNTARY_REASON = "payment_failed"
"""The ``cancel_reason`` of a subscription cancelled by the dunning schedule (involuntary
churn); every other cancellation is the customer's (voluntary)."""

MONTHS_PER_UNIT = {"day": 365.25 / 12, "week": 52.18 / 12, "month": 1.0}
"""How many of each cadence unit a month holds: 30.4375 days (365.25 / 12), 4.348333... weeks
(52.18 / 12), one month. A subscription's monthly value is its next order's amount times
this over its ``cadence_count``."""

SUBSCRIPTION_EVENT_KINDS = (
    "created",
    "subscription_paused",
    "subscription_resumed",
    "offer_shown",
    "offer_accepted",
    "offer_declined",
    "subscription_cancelled",
    "expired",
    "payment_failed",
    "payment_succeeded",
)
"""The event kinds these functions read (others may be present and are left aside)."""

_TEXT, _INT, _UTC_US = pa.string(), pa.int64(), pa.timestamp("us", tz="UTC")


def _schema(table: str, fields: str, types: Sequence[pa.DataType]) -> pa.Schema:
    """``fields``: the column names, a trailing ``?`` marking the nullable ones."""
    names = fields.split()
    return pa.schema(
        [
            pa.field(name.rstrip("?"), kind, nullable=name.endswith("?"))
            for name, kind in zip(names, types, strict=True)
        ],
        metadata={b"retentio.table": table.encode(), b"retentio.version": b"1"},
    )


SUBSCRIPTIONS_SCHEMA = _schema(
    "subscriptions",
    "subscription_id customer_id status currency cadence_unit cadence_count next_amount_minor "
    "started_at ended_at? cancel_reason?",
    [_INT, _TEXT, _TEXT, _TEXT, _TEXT, _INT, _INT, _UTC_US, _UTC_US, _TEXT],
)
SUBSCRIPTION_EVENTS_SCHEMA = _schema(
    "subscription_events",
    "event_id subscription_id kind reason? offer? voluntary? occurred_at",
    [_INT, _INT, _TEXT, _TEXT, _TEXT, pa.bool_(), _UTC_US],
)
SUBSCRIPTION_ORDERS_SCHEMA = _schema(
    "subscription_orders",
    "subscription_id cycle kind due_on amount_minor currency status created_at paid_at?",
    [_INT, _INT, _TEXT, pa.date32(), _INT, _TEXT, _TEXT, _UTC_US, _UTC_US],
)

#: Events that set a subscription's status whatever it was.
_SETS = {
    "created": "active",
    "subscription_paused": "paused",
    "subscription_resumed": "active",
    "subscription_cancelled": "cancelled",
    "expired": "expired",
}
_LIVE = ("active", "paused", "past_due")


def _statuses(subs: pd.DataFrame, events: object | None, end: pd.Timestamp) -> pd.Series:
    """Each subscription's status just before ``end`` (None before it started)."""
    ended = subs["ended_at"].notna() & (subs["ended_at"] < end)
    final = subs["status"].where(subs["status"] == "expired", "cancelled")
    if events is None:  # the status now, for those still live
        status = subs["status"].where(subs["status"].isin(_LIVE), "active")
    else:
        status = _replayed(subs["subscription_id"], events_before(events, end), subs.index)
    status = status.where(~ended, final)
    return status.where(subs["started_at"] < end, None)


def _replayed(ids: pd.Series, events: pd.DataFrame, index: pd.Index) -> pd.Series:
    """The status the events leave each subscription in: the last event that sets one (a
    pause offer accepted pauses), then, on an active subscription, the last payment after it
    (failed: past due; succeeded: active again). Without such an event: active."""
    kind = events["kind"]
    state = kind.map(_SETS)
    if "offer" in events.columns:
        state = state.mask((kind == "offer_accepted") & (events["offer"] == "pause"), "paused")
    setting = events.loc[state.notna(), ["subscription_id", "position"]]
    setting = setting.assign(state=state[state.notna()])
    last = setting.groupby("subscription_id").last()
    payments = events.loc[
        kind.isin(("payment_failed", "payment_succeeded")), ["subscription_id", "position", "kind"]
    ]
    after = payments["position"] > payments["subscription_id"].map(last["position"]).fillna(-1)
    paid = payments[after].groupby("subscription_id")["kind"].last()
    base = ids.map(last["state"]).fillna("active")
    payment = ids.map(paid.map({"payment_failed": "past_due", "payment_succeeded": "active"}))
    status = base.mask((base == "active") & payment.notna(), payment)
    return pd.Series(status.to_numpy(dtype=object), index=index)


def subscription_status(
    subscriptions: object, events: object | None, *, as_of: object
) -> pd.Series:
    """Each subscription's status at the end of day ``as_of``.

    Parameters
    ----------
    subscriptions
        The subscriptions (see the module's docstring).
    events
        Their history (``subscription_id``, ``kind``, ``offer``, ``occurred_at``, and
        ``event_id`` for the order of events at the same instant). None: the ``status`` column
        (today's) is taken for the subscriptions still live at ``as_of``, exact when ``as_of``
        is the day the table was read.

    Returns
    -------
    pandas.Series
        Indexed by ``subscription_id``: ``cancelled`` or ``expired`` for a subscription that
        ended by then (``ended_at``), else the status its events leave it in (``active``,
        ``paused`` or ``past_due``: the last of created, subscription_paused, an accepted
        ``pause`` offer, subscription_resumed; then, if that left it active, the last
        payment_failed (past due) or payment_succeeded (active) after it); None for one
        not started yet.
    """
    subs = subscriptions_frame(subscriptions, "status")
    status = _statuses(subs, events, day_end(as_of, "as_of"))
    return pd.Series(status.to_numpy(dtype=object), index=subs["subscription_id"], name="status")


@dataclass(frozen=True, slots=True)
class ActiveSubscriptions:
    """The live subscriptions at the end of a day, by status (:func:`active_subscriptions`)."""

    as_of: date
    active: int
    paused: int
    past_due: int

    @property
    def live(self) -> int:
        """Active, paused and past due together."""
        return self.active + self.paused + self.past_due


def active_subscriptions(
    subscriptions: object, events: object | None = None, *, as_of: object
) -> ActiveSubscriptions:
    """How many subscriptions were live at the end of day ``as_of``, by status.

    Parameters
    ----------
    subscriptions, events
        As for :func:`subscription_status`.
    as_of
        The UTC day.

    Returns
    -------
    ActiveSubscriptions
        ``active`` (renewing), ``paused`` and ``past_due`` (a payment failing through the
        dunning schedule) at the end of ``as_of``, as :func:`subscription_status` tells them;
        ``live``: the three together.
    """
    counts = subscription_status(subscriptions, events, as_of=as_of).value_counts()
    return ActiveSubscriptions(
        as_of=as_date(as_of, "as_of"),
        active=int(counts.get("active", 0)),
        paused=int(counts.get("paused", 0)),
        past_due=int(counts.get("past_due", 0)),
    )


def _monthly_minor(subs: pd.DataFrame) -> pd.Series:
    unit = subs["cadence_unit"].astype(str)
    count = pd.to_numeric(subs["cadence_count"])
    unknown = sorted(set(unit[~unit.isin(MONTHS_PER_UNIT)]))
    if unknown:
        raise DataError(f"subscriptions.cadence_unit: unknown unit(s) {', '.join(unknown)}")
    if (count < 1).any():
        raise DataError("subscriptions.cadence_count: must be 1 or more")
    factor = unit.map(MONTHS_PER_UNIT).astype("float64")
    return pd.to_numeric(subs["next_amount_minor"]).astype("float64") * factor / count


def recurring_revenue(
    subscriptions: object, events: object | None = None, *, as_of: object
) -> pd.DataFrame:
    """Monthly and annual recurring revenue (MRR, ARR) at the end of day ``as_of``, by currency.

    A subscription's monthly value is its next order's amount (``next_amount_minor``) over its
    cadence, in its currency: ``amount × MONTHS_PER_UNIT[unit] / count``; every N days:
    ``amount × 30.4375 / N`` (365.25 / 12); every N weeks: ``amount × 4.348333... / N`` (52.18
    / 12); every N months: ``amount / N``. MRR is the sum over the subscriptions active or past
    due at ``as_of`` (a paused one brings nothing in; a past-due one is still billed while the
    dunning schedule runs); ARR is 12 × MRR. The amounts are today's (a store keeps no
    history of prices): for an earlier ``as_of`` it is those subscriptions at today's prices.

    Parameters
    ----------
    subscriptions, events
        As for :func:`subscription_status`; ``subscriptions`` needs ``currency``,
        ``cadence_unit``, ``cadence_count`` and ``next_amount_minor`` too.
    as_of
        The UTC day.

    Returns
    -------
    pandas.DataFrame
        ``currency, subscriptions, mrr, arr``: one row per currency with a counted
        subscription, by code; ``mrr`` and ``arr`` in major units, rounded (half to even) to
        the currency's minor unit.
    """
    subs = subscriptions_frame(
        subscriptions, "status", "currency", "cadence_unit", "cadence_count", "next_amount_minor"
    )
    status = _statuses(subs, events, day_end(as_of, "as_of"))
    counted = subs[status.isin(("active", "past_due")).to_numpy()]
    monthly = _monthly_minor(counted)
    currency = counted["currency"].astype(str).str.upper()
    rows = []
    for code, minor in monthly.groupby(currency, sort=True):
        scale = 10.0 ** minor_unit_exponent(str(code))
        digits = minor_unit_exponent(str(code))
        total = float(minor.sum())
        rows.append(
            (code, len(minor), round(total / scale, digits), round(12 * total / scale, digits))
        )
    out = pd.DataFrame(rows, columns=["currency", "subscriptions", "mrr", "arr"])
    return out.astype(
        {"currency": object, "subscriptions": "int64", "mrr": "float64", "arr": "float64"}
    )


@dataclass(frozen=True, slots=True)
class SubscriptionChurn:
    """Subscriptions lost in a window, voluntary and involuntary (:func:`subscription_churn`)."""

    start: date
    end: date
    live_at_start: int
    started: int
    cancelled: int
    voluntary: int
    involuntary: int
    expired: int

    @property
    def at_risk(self) -> int:
        """Live at the start, or started in the window: those who could cancel in it."""
        return self.live_at_start + self.started

    @property
    def churn_rate(self) -> float:
        """``cancelled / at_risk`` (NaN when none was at risk)."""
        return ratio(self.cancelled, self.at_risk)

    @property
    def voluntary_rate(self) -> float:
        """``voluntary / at_risk``."""
        return ratio(self.voluntary, self.at_risk)

    @property
    def involuntary_rate(self) -> float:
        """``involuntary / at_risk``."""
        return ratio(self.involuntary, self.at_risk)


def subscription_churn(subscriptions: object, *, start: object, end: object) -> SubscriptionChurn:
    """The subscriptions cancelled in a window, split by who ended them.

    Parameters
    ----------
    subscriptions
        The subscriptions (``subscription_id``, ``status``, ``started_at``, ``ended_at``,
        ``cancel_reason``; see the module's docstring).
    start, end
        First and last UTC day (both included) of the window.

    Returns
    -------
    SubscriptionChurn
        ``live_at_start``: live when the window began; ``started``: made in it;
        ``cancelled``: those whose ``ended_at`` falls in it and whose status is not
        ``expired``, split into ``involuntary`` (``cancel_reason`` :data:`INVOLUNTARY_REASON`:
        the dunning schedule ran out) and ``voluntary`` (every other reason: the customer's
        choice); ``expired``: those that reached their last cycle in it (not churn: a term
        came to its end). The rates divide by ``at_risk`` = ``live_at_start + started``.
    """
    subs = subscriptions_frame(subscriptions, "status", "cancel_reason")
    first, last, begins, ends = window(start, end)
    ended = subs["ended_at"]
    within = ended.notna() & (ended >= begins) & (ended < ends)
    expired = within & (subs["status"] == "expired")
    cancelled = within & ~expired
    involuntary = cancelled & (subs["cancel_reason"] == INVOLUNTARY_REASON)
    started = subs["started_at"]
    return SubscriptionChurn(
        start=first,
        end=last,
        live_at_start=int(((started < begins) & (ended.isna() | (ended >= begins))).sum()),
        started=int(((started >= begins) & (started < ends)).sum()),
        cancelled=int(cancelled.sum()),
        voluntary=int((cancelled & ~involuntary).sum()),
        involuntary=int(involuntary.sum()),
        expired=int(expired.sum()),
    )


def subscription_order_totals(orders: object, *, start: object, end: object) -> pd.DataFrame:
    """The orders subscriptions made in a window and what was paid, by currency.

    Parameters
    ----------
    orders
        The orders (``amount_minor``, ``currency``, ``status``, ``created_at``).
    start, end
        First and last UTC day (both included) of the orders' ``created_at``.

    Returns
    -------
    pandas.DataFrame
        ``currency, orders, amount, paid, paid_amount, failing, lost``: the orders made and
        their amount; those paid and their amount; those whose payment is failing through
        the dunning schedule (``retrying``); those given up (``cancelled``). Amounts in major
        units; one row per currency, by code.
    """
    table = frame(orders, "orders", ("amount_minor", "currency", "status", "created_at"))
    _first, _last, begins, ends = window(start, end)
    at = utc(table["created_at"])
    made = table.loc[(at >= begins) & (at < ends)]
    rows = []
    for code, group in made.groupby(made["currency"].astype(str).str.upper(), sort=True):
        scale, digits = 10.0 ** minor_unit_exponent(str(code)), minor_unit_exponent(str(code))
        amount = pd.to_numeric(group["amount_minor"])
        paid = group["status"] == "paid"
        rows.append(
            (
                code,
                len(group),
                round(float(amount.sum()) / scale, digits),
                int(paid.sum()),
                round(float(amount[paid].sum()) / scale, digits),
                int((group["status"] == "retrying").sum()),
                int((group["status"] == "cancelled").sum()),
            )
        )
    columns = ["currency", "orders", "amount", "paid", "paid_amount", "failing", "lost"]
    return pd.DataFrame(rows, columns=columns).astype(
        {
            "orders": "int64",
            "paid": "int64",
            "failing": "int64",
            "lost": "int64",
            "amount": "float64",
            "paid_amount": "float64",
        }  # fmt: skip
    )
