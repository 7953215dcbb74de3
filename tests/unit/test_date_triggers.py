"""Date triggers: on which day, on whose clock, a customer enters a birthday journey."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from retentio.campaigns.date_triggers import anniversary, candidate_days, entered_between
from retentio.campaigns.journey_definition import JourneyError, parse_journey

CPH, AUCKLAND, LA = (
    ZoneInfo("Europe/Copenhagen"),
    ZoneInfo("Pacific/Auckland"),
    ZoneInfo("America/Los_Angeles"),
)


@pytest.mark.parametrize(
    ("value", "year", "expected"),
    [
        ("1990-05-17", 2026, date(2026, 5, 17)),
        ("05-17", 2026, date(2026, 5, 17)),
        ("2000-02-29", 2027, date(2027, 2, 28)),
        ("2000-02-29", 2028, date(2028, 2, 29)),
        ("1990-13-01", 2026, None),
        ("soon", 2026, None),
        (None, 2026, None),
    ],
)
def test_anniversaries(value: str | None, year: int, expected: date | None) -> None:
    assert anniversary(value, year) == expected


def test_the_day_begins_on_the_customers_own_clock() -> None:
    # 4 December begins at 23:00 UTC on the 3rd in Copenhagen, 11:00 UTC on the 3rd in
    # Auckland, and 08:00 UTC on the 4th in Los Angeles.
    since = datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    now = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    assert entered_between("1990-12-04", CPH, since, now, 0) == datetime(2026, 12, 4, tzinfo=CPH)
    assert entered_between("1990-12-04", AUCKLAND, since, now, 0) is None  # began before since
    assert entered_between("1990-12-04", LA, since, now, 0) is None  # not yet
    later = now + timedelta(hours=9)
    assert entered_between("12-04", LA, now, later, 0) == datetime(2026, 12, 4, tzinfo=LA)


def test_days_before_and_the_new_year() -> None:
    since = datetime(2026, 12, 28, 22, 0, tzinfo=UTC)
    now = datetime(2026, 12, 28, 23, 30, tzinfo=UTC)  # 29 December began in Copenhagen
    assert entered_between("1985-01-01", CPH, since, now, 3) == datetime(2026, 12, 29, tzinfo=CPH)
    assert "01-01" in candidate_days(since, now, 3)


def test_a_late_round_catches_up_three_days_at_most() -> None:
    now = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    week_ago = now - timedelta(days=7)
    assert entered_between("12-08", CPH, week_ago, now, 0) == datetime(2026, 12, 8, tzinfo=CPH)
    assert entered_between("12-05", CPH, week_ago, now, 0) is None  # more than 3 days ago
    assert "02-29" in candidate_days(
        datetime(2027, 2, 27, tzinfo=UTC), datetime(2027, 2, 28, 12, tzinfo=UTC), 0
    )


@pytest.mark.parametrize(
    ("trigger", "path"),
    [
        ({"date": "Birth Day"}, "trigger.date"),
        ({"date": "birthday", "days_before": 90}, "trigger.days_before"),
        ({"date": "birthday", "at": "09:00"}, "trigger.at"),
    ],
)
def test_bad_date_triggers_are_named(trigger: dict[str, object], path: str) -> None:
    journey = {
        "name": "bday",
        "trigger": trigger,
        "steps": [{"send": {"message": {"en": {"subject": "Hi", "text": "Happy birthday"}}}}],
    }
    with pytest.raises(JourneyError) as caught:
        parse_journey(journey)
    assert caught.value.path == path


def test_a_date_journey_comes_back_yearly_by_default() -> None:
    journey = {
        "name": "bday",
        "trigger": {"date": "birthday", "days_before": 2},
        "steps": [{"send": {"message": {"en": {"subject": "Hi", "text": "Happy birthday"}}}}],
    }
    parsed = parse_journey(journey)
    assert (parsed.trigger_date, parsed.days_before, parsed.re_entry) == ("birthday", 2, 300)
    assert parse_journey({**journey, "re_entry": False}).re_entry is False
