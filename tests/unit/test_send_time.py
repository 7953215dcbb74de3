"""Best hours for a whole shop: the same answers as the per-customer rule, on local clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from retentio.analytics import best_hours
from retentio.campaigns import best_hour, customer_zone


def test_hours_are_read_on_each_customers_clock_across_summer_time() -> None:
    winter = [datetime(2026, 1, d, 19, 0, tzinfo=UTC) for d in (5, 6)]  # 20:00 in Amsterdam
    summer = [datetime(2026, 7, d, 18, 0, tzinfo=UTC) for d in (5, 6)]  # 20:00 too
    frame = pd.DataFrame(
        {
            "customer_id": ["nl"] * 4 + ["few"] * 2,
            "ordered_at": [*winter, *summer, *winter],
        }
    )
    hours = best_hours(frame, {"nl": "Europe/Amsterdam", "few": "Nowhere/Unknown"})
    assert hours.to_dict() == {"nl": 20}  # "few" has 2 times, below the minimum of 3


def test_the_vectorised_rule_agrees_with_the_per_customer_rule() -> None:
    rng = np.random.default_rng(5)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    zones = {}
    for n in range(300):
        zone = ["Europe/Copenhagen", "America/New_York", "Asia/Kolkata", None][n % 4]
        zones[f"c{n}"] = zone
        for _ in range(int(rng.integers(0, 12))):
            rows.append((f"c{n}", start + timedelta(minutes=int(rng.integers(0, 525_600)))))
    frame = pd.DataFrame(rows, columns=["customer_id", "ordered_at"])
    vectorised = best_hours(frame, zones).to_dict()
    expected = {}
    for customer, times in frame.groupby("customer_id")["ordered_at"]:
        hour = best_hour(list(times), customer_zone(zones[customer]))
        if hour is not None:
            expected[customer] = hour
    assert vectorised == expected and len(expected) > 200


def test_no_orders_no_hours() -> None:
    empty = pd.DataFrame({"customer_id": [], "ordered_at": pd.to_datetime([], utc=True)})
    assert best_hours(empty, {}).empty
