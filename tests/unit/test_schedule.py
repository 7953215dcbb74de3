"""The worker's scheduled jobs: each at most once per its interval, a failure logged and
tried again at the next interval, never stopping the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retentio.campaigns.schedule import Schedule, ScheduledJob

T0 = datetime(2026, 12, 7, 12, tzinfo=UTC)


class FakeSession:
    def __init__(self) -> None:
        self.rollbacks = 0

    def rollback(self) -> None:
        self.rollbacks += 1


def test_jobs_run_at_their_interval_and_failures_do_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[tuple[str, datetime]] = []

    def hourly(_session: Any, now: datetime) -> None:
        calls.append(("hourly", now))

    def broken(_session: Any, now: datetime) -> None:
        calls.append(("broken", now))
        raise RuntimeError("the store is away")

    schedule = Schedule(
        [ScheduledJob("broken", timedelta(minutes=5), broken),
         ScheduledJob("hourly", timedelta(hours=1), hourly)]
    )  # fmt: skip
    session = FakeSession()
    assert schedule.run_due(session, T0) == ["broken", "hourly"]  # type: ignore[arg-type]
    assert schedule.run_due(session, T0 + timedelta(minutes=4)) == []  # type: ignore[arg-type]
    assert schedule.run_due(session, T0 + timedelta(minutes=5)) == ["broken"]  # type: ignore[arg-type]
    assert schedule.run_due(session, T0 + timedelta(hours=1)) == ["broken", "hourly"]  # type: ignore[arg-type]
    assert [name for name, _ in calls].count("hourly") == 2
    assert session.rollbacks == 3
    assert "scheduled job broken failed" in caplog.text
