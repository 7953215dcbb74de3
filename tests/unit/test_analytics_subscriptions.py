"""Unit tests of the subscription analytics, on small tables whose figures are worked out by
hand below, and of the sBG projection of cohorts on survival whose parameters are known."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from retentio.analytics import (
    SUBSCRIPTION_EVENTS_SCHEMA,
    SUBSCRIPTIONS_SCHEMA,
    active_subscriptions,
    cohort_survival,
    pause_rates,
    recurring_revenue,
    save_offer_acceptance,
    subscription_churn,
    subscription_order_totals,
    subscription_status,
)
from retentio.analytics.subscriptions import MONTHS_PER_UNIT
from retentio.clv import project_cohorts
from retentio.core.errors import ConfigurationError, DataError, SchemaError

NOW = "2027-04-02"


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def subscriptions_table(rows: list[tuple[object, ...]]) -> pa.Table:
    names = SUBSCRIPTIONS_SCHEMA.names
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    return pa.Table.from_pydict(columns, schema=SUBSCRIPTIONS_SCHEMA)


# id, customer, status now, currency, unit, count, next amount, started, ended, reason
SUBSCRIPTIONS = subscriptions_table(
    [
        (1, "ida", "past_due", "DKK", "month", 1, 24_000, at("2027-01-10 09:00"), None, None),
        (2, "bo", "paused", "DKK", "week", 2, 10_000, at("2027-01-20 09:00"), None, None),
        (3, "eva", "cancelled", "EUR", "day", 10, 3_000, at("2027-02-01 09:00"),
         at("2027-03-05 12:00"), "too_expensive"),
        (4, "jo", "cancelled", "DKK", "month", 3, 30_000, at("2027-02-15 09:00"),
         at("2027-03-20 12:00"), "payment_failed"),
        (5, "al", "expired", "EUR", "month", 1, 1_999, at("2027-03-10 09:00"),
         at("2027-03-25 06:00"), None),
        (6, "mo", "active", "DKK", "month", 1, 5_000, at("2027-04-01 09:00"), None, None),
    ]
)  # fmt: skip

_EVENTS: list[tuple[int, str, str | None, str | None, bool | None, str]] = [
    (1, "created", None, None, None, "2027-01-10 09:00"),
    (2, "created", None, None, None, "2027-01-20 09:00"),
    (3, "created", None, None, None, "2027-02-01 09:00"),
    (2, "subscription_paused", None, None, None, "2027-02-10 10:00"),
    (4, "created", None, None, None, "2027-02-15 09:00"),
    (1, "renewed", None, None, None, "2027-03-01 05:00"),  # read and left aside
    (2, "subscription_resumed", None, None, None, "2027-03-01 05:00"),
    (4, "subscription_paused", None, None, None, "2027-03-01 08:00"),
    (1, "payment_failed", None, None, None, "2027-03-02 10:00"),
    (1, "payment_succeeded", None, None, None, "2027-03-04 10:00"),
    (3, "offer_shown", "too_expensive", "discount", None, "2027-03-05 11:00"),
    (3, "offer_shown", "too_expensive", "cadence", None, "2027-03-05 11:00"),
    (3, "offer_declined", "too_expensive", "discount", None, "2027-03-05 12:00"),
    (3, "offer_declined", "too_expensive", "cadence", None, "2027-03-05 12:00"),
    (3, "subscription_cancelled", "too_expensive", None, True, "2027-03-05 12:00"),
    (5, "created", None, None, None, "2027-03-10 09:00"),
    (2, "offer_shown", "not_now", "pause", None, "2027-03-10 10:00"),
    (2, "offer_shown", "not_now", "skip", None, "2027-03-10 10:00"),
    (2, "offer_accepted", "not_now", "pause", None, "2027-03-10 10:05"),
    (1, "payment_failed", None, None, None, "2027-03-12 10:00"),
    (4, "payment_failed", None, None, None, "2027-03-20 12:00"),
    (4, "subscription_cancelled", "payment_failed", None, False, "2027-03-20 12:00"),
    (5, "expired", None, None, None, "2027-03-25 06:00"),
    (6, "created", None, None, None, "2027-04-01 09:00"),
]
EVENTS = pa.Table.from_pydict(
    {
        "event_id": list(range(1, len(_EVENTS) + 1)),
        "subscription_id": [e[0] for e in _EVENTS],
        "kind": [e[1] for e in _EVENTS],
        "reason": [e[2] for e in _EVENTS],
        "offer": [e[3] for e in _EVENTS],
        "voluntary": [e[4] for e in _EVENTS],
        "occurred_at": [at(e[5]) for e in _EVENTS],
    },
    schema=SUBSCRIPTION_EVENTS_SCHEMA,
)


def test_status_at_a_date_replays_the_events() -> None:
    """15 March: 1 failed a payment on the 12th (past due after the success of the 4th); 2
    took the pause offer on the 10th; 3 was cancelled on the 5th; 4 paused on the 1st (its
    cancellation on the 20th is later); 5 is active; 6 has not started."""
    status = subscription_status(SUBSCRIPTIONS, EVENTS, as_of="2027-03-15")
    assert status.to_dict() == {
        1: "past_due", 2: "paused", 3: "cancelled", 4: "paused", 5: "active", 6: None,
    }  # fmt: skip
    assert subscription_status(SUBSCRIPTIONS, EVENTS, as_of="2027-03-03")[1] == "past_due"
    assert subscription_status(SUBSCRIPTIONS, EVENTS, as_of="2027-03-04")[1] == "active"
    assert subscription_status(SUBSCRIPTIONS, EVENTS, as_of="2027-03-31")[5] == "expired"
    # without events: today's status of those still live
    today = subscription_status(SUBSCRIPTIONS, None, as_of=NOW)
    assert today.to_dict() == {
        1: "past_due", 2: "paused", 3: "cancelled", 4: "cancelled", 5: "expired", 6: "active",
    }  # fmt: skip


def test_active_subscriptions_by_status() -> None:
    counts = active_subscriptions(SUBSCRIPTIONS, EVENTS, as_of=date(2027, 3, 15))
    assert (counts.active, counts.paused, counts.past_due, counts.live) == (1, 2, 1, 4)
    assert counts.as_of == date(2027, 3, 15)
    later = active_subscriptions(SUBSCRIPTIONS, EVENTS, as_of=NOW)
    assert (later.active, later.paused, later.past_due) == (1, 1, 1)  # 6 started, 4 and 5 ended


def test_mrr_normalises_each_cadence() -> None:
    """2 March: 1 (past due, counted) 240.00 DKK a month; 2 (active again since 1 March)
    100.00 DKK every 2 weeks = 100 × (52.18 / 12) / 2 = 217.4166...; 3, 30.00 EUR every 10
    days = 30 × (365.25 / 12) / 10 = 91.3125; 4 paused (not counted); 5 not started.
    DKK: 240 + 217.41667 = 457.41667 -> 457.42, ARR 12 × 457.41667 = 5,489.00.
    EUR: 91.3125 -> 91.31, ARR 1,095.75."""
    assert MONTHS_PER_UNIT == {"day": 30.4375, "week": 52.18 / 12, "month": 1.0}
    revenue = recurring_revenue(SUBSCRIPTIONS, EVENTS, as_of="2027-03-02")
    assert revenue["currency"].tolist() == ["DKK", "EUR"]
    assert revenue["subscriptions"].tolist() == [2, 1]
    assert revenue["mrr"].tolist() == [457.42, 91.31]
    assert revenue["arr"].tolist() == [5489.0, 1095.75]
    # 15 March: 1 (240.00 DKK) and 5 (19.99 EUR a month): 2, 4 paused, 3 cancelled
    march = recurring_revenue(SUBSCRIPTIONS, EVENTS, as_of="2027-03-15")
    assert march.to_dict("list") == {
        "currency": ["DKK", "EUR"], "subscriptions": [1, 1],
        "mrr": [240.0, 19.99], "arr": [2880.0, 239.88],
    }  # fmt: skip


def test_mrr_in_a_currency_without_minor_units_and_bad_cadences() -> None:
    yen = subscriptions_table(
        [(1, "a", "active", "JPY", "week", 1, 1_000, at("2027-01-01"), None, None)]
    )
    revenue = recurring_revenue(yen, as_of=NOW)  # 1,000 × 52.18 / 12 = 4,348.33 -> 4,348
    assert revenue["mrr"].tolist() == [4348.0] and revenue["arr"].tolist() == [52180.0]
    odd = subscriptions_table(
        [(1, "a", "active", "DKK", "year", 1, 1_000, at("2027-01-01"), None, None)]
    )
    with pytest.raises(DataError, match="unknown unit"):
        recurring_revenue(odd, as_of=NOW)
    with pytest.raises(SchemaError, match="next_amount_minor"):
        recurring_revenue(SUBSCRIPTIONS.drop(["next_amount_minor"]), as_of=NOW)


def test_churn_split_voluntary_and_involuntary() -> None:
    """March: live at its start 1, 2, 3, 4; started 5. Cancelled 3 (too_expensive:
    voluntary) and 4 (payment_failed: involuntary); 5 expired (not churn). At risk 5."""
    churn = subscription_churn(SUBSCRIPTIONS, start="2027-03-01", end="2027-03-31")
    assert (churn.live_at_start, churn.started, churn.at_risk) == (4, 1, 5)
    assert (churn.cancelled, churn.voluntary, churn.involuntary, churn.expired) == (2, 1, 1, 1)
    assert (churn.churn_rate, churn.voluntary_rate, churn.involuntary_rate) == (0.4, 0.2, 0.2)
    first_week = subscription_churn(SUBSCRIPTIONS, start="2027-03-01", end="2027-03-07")
    assert (first_week.cancelled, first_week.voluntary, first_week.involuntary) == (1, 1, 0)
    quiet = subscription_churn(SUBSCRIPTIONS, start="2026-01-01", end="2026-01-31")
    assert quiet.at_risk == 0 and math.isnan(quiet.churn_rate)
    with pytest.raises(ConfigurationError, match="after end"):
        subscription_churn(SUBSCRIPTIONS, start="2027-03-02", end="2027-03-01")


def test_pause_rate_and_how_pauses_ended() -> None:
    """February and March: pauses of 2 on 10 Feb (resumed 1 Mar) and 10 Mar (the save offer;
    still paused), of 4 on 1 Mar (cancelled 20 Mar); 5 subscriptions live in the window."""
    both = pause_rates(SUBSCRIPTIONS, EVENTS, start="2027-02-01", end="2027-03-31")
    assert (both.subscriptions, both.paused_subscriptions, both.pauses) == (5, 2, 3)
    assert (both.resumed, both.cancelled, both.still_paused) == (1, 1, 1)
    assert (both.pause_rate, both.resume_rate) == (0.4, 0.5)
    # February alone: 2's pause, its resumption not seen by 28 February; 4 subscriptions
    february = pause_rates(SUBSCRIPTIONS, EVENTS, start="2027-02-01", end="2027-02-28")
    assert (february.subscriptions, february.pauses, february.still_paused) == (4, 1, 1)
    assert february.pause_rate == 0.25 and math.isnan(february.resume_rate)
    april = pause_rates(SUBSCRIPTIONS, EVENTS, start="2027-04-01", end="2027-04-30")
    assert (april.subscriptions, april.pauses, april.pause_rate) == (3, 0, 0.0)


def test_save_offer_acceptance_by_reason_and_offer() -> None:
    offers = save_offer_acceptance(EVENTS)
    assert offers.to_dict("list") == {
        "reason": ["not_now", "not_now", "too_expensive", "too_expensive"],
        "offer": ["pause", "skip", "cadence", "discount"],
        "shown": [1, 1, 1, 1],
        "accepted": [1, 0, 0, 0],
        "declined": [0, 0, 1, 1],
        "acceptance_rate": [1.0, 0.0, 0.0, 0.0],
    }
    march_tenth = save_offer_acceptance(EVENTS.to_pandas(), start="2027-03-10", end="2027-03-10")
    assert march_tenth["offer"].tolist() == ["pause", "skip"]
    assert save_offer_acceptance(EVENTS, end="2027-03-01").empty


def test_order_totals_by_currency() -> None:
    orders = pd.DataFrame(
        {
            "subscription_id": [1, 1, 2, 3],
            "amount_minor": [24_000, 24_000, 10_000, 3_000],
            "currency": ["DKK", "DKK", "DKK", "EUR"],
            "status": ["paid", "retrying", "cancelled", "paid"],
            "created_at": [at("2027-02-10"), at("2027-03-10"), at("2027-03-11"), at("2027-04-01")],
        }
    )
    totals = subscription_order_totals(orders, start="2027-02-01", end="2027-03-31")
    assert totals.to_dict("records") == [
        {"currency": "DKK", "orders": 3, "amount": 580.0, "paid": 1, "paid_amount": 240.0,
         "failing": 1, "lost": 1}
    ]  # fmt: skip


def test_cohort_survival_counts_whole_months() -> None:
    """As of 20 April 2026. Cohort 2026-01: A from 31 Jan 10:00 (anniversaries 28 Feb, 31
    Mar: the month's last day), ended 15 Mar: survived 1; B from 5 Jan 00:00, ended on its
    first anniversary to the second: survived 0; C from 15 Jan, live. Every member's second
    anniversary has passed (A's third, 30 April, has not): periods 0-2 of 3, 2, 1. Cohort
    2026-03: D from 31 March, no anniversary yet: period 0 only. E starts later."""
    table = subscriptions_table(
        [
            (1, "a", "cancelled", "DKK", "month", 1, 1, at("2026-01-31 10:00"),
             at("2026-03-15"), "other"),
            (2, "b", "cancelled", "DKK", "month", 1, 1, at("2026-01-05 00:00"),
             at("2026-02-05 00:00"), "other"),
            (3, "c", "active", "DKK", "month", 1, 1, at("2026-01-15 08:00"), None, None),
            (4, "d", "active", "DKK", "month", 1, 1, at("2026-03-31 08:00"), None, None),
            (5, "e", "active", "DKK", "month", 1, 1, at("2026-04-25 08:00"), None, None),
        ]
    )  # fmt: skip
    survival = cohort_survival(table, as_of="2026-04-20")
    assert survival.to_dict("list") == {
        "cohort": ["2026-01", "2026-01", "2026-01", "2026-03"],
        "period": [0, 1, 2, 0],
        "subscriptions": [3, 3, 3, 1],
        "active": [3, 2, 1, 1],
        "share": [1.0, 2 / 3, 1 / 3, 1.0],
    }
    assert cohort_survival(table, as_of="2026-04-20", periods=1)["period"].tolist() == [0, 1, 0]
    # A ended after the as-of day: it is live then
    early = cohort_survival(table, as_of="2026-03-14")
    assert early.loc[early["cohort"] == "2026-01", "active"].tolist() == [3, 2]
    assert cohort_survival(table, as_of="2025-12-31").empty


def cohort_of(survivors: list[int], start: str = "2025-01-15 09:00") -> pa.Table:
    """One cohort started together, ``survivors[t]`` of them live after t months: the
    others cancelled at their (t+1)-th monthly anniversary."""
    begun = at(start)
    rows = []
    for t in range(len(survivors)):
        left = survivors[t] - (survivors[t + 1] if t + 1 < len(survivors) else 0)
        ended = begun + pd.DateOffset(months=t + 1) if t + 1 < len(survivors) else None
        rows += [(len(rows) + i, "c", "x", "DKK", "month", 1, 1, begun, ended, "other")
                 for i in range(left)]  # fmt: skip
    return subscriptions_table(rows)


#: Fader & Hardie (2007), Table 1: the Regular cohort, active at the start of years 1-8.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]


def test_sbg_projection_recovers_the_papers_regular_cohort() -> None:
    """Fader & Hardie (2007), "How to project customer retention", Journal of Interactive
    Marketing 21(1): their Regular cohort's counts (years as periods) fit alpha = 0.704, beta
    = 1.182; alpha < 1, so the undiscounted expected lifetime is infinite."""
    table = cohort_of(REGULAR)
    survival = cohort_survival(table, as_of="2025-08-20")  # seven anniversaries passed
    assert survival["active"].tolist() == REGULAR
    projection = project_cohorts(survival, horizon=5, cap=60)
    row = projection.cohorts.iloc[0]
    assert row["cohort"] == "2025-01" and row["fitted"] and row["periods_observed"] == 7
    assert row["alpha"] == pytest.approx(0.704, abs=5e-4)
    assert row["beta"] == pytest.approx(1.182, abs=5e-4)
    assert math.isinf(row["expected_lifetime"])
    # r(8) = (beta + 7) / (alpha + beta + 7)
    assert row["next_retention"] == pytest.approx((1.182 + 7) / (0.704 + 1.182 + 7), abs=1e-3)
    curve = projection.curves
    assert curve["period"].tolist() == list(range(13))
    assert curve["observed"].iloc[:8].tolist() == [s / 1000 for s in REGULAR]
    assert curve["observed"].iloc[8:].isna().all()
    # the projection past year 7 is the model's S(t) with the paper's parameters
    expected = [math.prod((1.182 + i) / (0.704 + 1.182 + i) for i in range(t)) for t in range(13)]
    assert curve["projected"].tolist() == pytest.approx(expected, abs=1e-3)
    assert row["capped_lifetime"] == pytest.approx(curve_sum(0.704, 1.182, 60), rel=1e-3)


def curve_sum(alpha: float, beta: float, cap: int) -> float:
    """sum of S(t), t < cap, with S(t) = prod_{i=1..t} (beta + i - 1) / (alpha + beta + i - 1)."""
    total, s = 0.0, 1.0
    for t in range(cap):
        total += s
        s *= (beta + t) / (alpha + beta + t)
    return total


def test_sbg_projection_recovers_simulated_parameters() -> None:
    """20,000 subscriptions whose monthly cancellation probability is drawn from Beta(2, 5):
    12 months observed, the fit finds alpha and beta within 15 % and the expected lifetime
    E[T] = (alpha + beta - 1) / (alpha - 1) = 6 months within 10 %."""
    rng = np.random.default_rng(7)
    theta = rng.beta(2.0, 5.0, 20_000)
    lifetime = rng.geometric(theta)  # the period in which each one cancels: 1, 2, ...
    survivors = [int((lifetime > t).sum()) for t in range(13)]
    projection = project_cohorts(cohort_survival(cohort_of(survivors), as_of="2026-01-20"))
    row = projection.cohorts.iloc[0]
    assert row["periods_observed"] == 12
    assert row["alpha"] == pytest.approx(2.0, rel=0.15)
    assert row["beta"] == pytest.approx(5.0, rel=0.15)
    assert row["expected_lifetime"] == pytest.approx(6.0, rel=0.10)
    assert row["capped_lifetime"] < row["expected_lifetime"]
    projected = projection.curves["projected"].to_numpy()
    assert projected.size == 25 and projected[0] == 1.0 and np.all(np.diff(projected) < 0)
    # 24 months of the simulated cohort: the projection of months 13-24 within 1.5 points
    later = np.array([(lifetime > t).mean() for t in range(13, 25)])
    assert projected[13:] == pytest.approx(later, abs=0.015)


def test_cohorts_that_cannot_be_fitted_say_why() -> None:
    survival = pd.DataFrame(
        {
            "cohort": ["2026-01", "2026-01", "2026-01", "2026-02", "2026-02", "2026-03"]
            + ["2026-03", "2026-03"],
            "period": [0, 1, 2, 0, 1, 0, 1, 2],
            "active": [10, 10, 10, 4, 3, 10, 6, 4],
        }
    )
    projection = project_cohorts(survival, horizon=2)
    table = projection.cohorts.set_index("cohort")
    assert table["fitted"].tolist() == [False, False, True]
    assert table.loc["2026-01", "note"] == "no cancellation yet"
    assert table.loc["2026-02", "note"] == "fewer than 2 periods observed"
    assert math.isnan(table.loc["2026-01", "alpha"])
    # 10, 6, 4: the likelihood's maximum is alpha = 2, beta = 3 (P(T=1) = 2/5, S(2) = 2/5),
    # so E[T] = (2 + 3 - 1) / (2 - 1) = 4 and r(3) = (3 + 2) / (2 + 3 + 2) = 5/7
    fitted = table.loc["2026-03"]
    assert (fitted["alpha"], fitted["beta"]) == (
        pytest.approx(2.0, rel=1e-4),
        pytest.approx(3.0, rel=1e-4),
    )
    assert fitted["expected_lifetime"] == pytest.approx(4.0, rel=1e-4)
    assert fitted["next_retention"] == pytest.approx(5 / 7, rel=1e-4)
    assert projection.curves.groupby("cohort").size().to_dict() == {
        "2026-01": 5, "2026-02": 4, "2026-03": 5,
    }  # fmt: skip
    gap = pd.DataFrame({"cohort": ["x", "x"], "period": [0, 2], "active": [3, 2]})
    with pytest.raises(DataError, match="periods"):
        project_cohorts(gap)
    empty = project_cohorts(cohort_survival(SUBSCRIPTIONS, as_of="2020-01-01"))
    assert empty.cohorts.empty and empty.curves.empty
