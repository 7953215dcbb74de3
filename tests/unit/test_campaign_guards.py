"""Control groups, quiet hours, frequency caps and best hours: pure rules on the local clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from retentio.campaigns import (
    DEFAULT_CAPS,
    FrequencyCap,
    PastSend,
    QuietHours,
    best_hour,
    blocking_cap,
    bucket,
    customer_zone,
    in_global_control,
    in_holdout,
    next_allowed,
    next_at_hour,
    quiet_until,
)
from retentio.core.errors import ConfigurationError

CPH = customer_zone("Europe/Copenhagen")
AMS = customer_zone("Europe/Amsterdam")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- control groups ------------------------------------------------------------------------


def test_holdout_is_deterministic_close_to_its_share_and_independent_per_campaign() -> None:
    customers = [f"C{n:06d}" for n in range(100_000)]
    first = {c for c in customers if in_holdout("win-back-2026-12", c)}
    assert first == {c for c in customers if in_holdout("win-back-2026-12", c)}
    assert abs(len(first) / len(customers) - 0.10) < 0.005
    other = {c for c in customers if in_holdout("re-engage", c)}
    both = len(first & other) / len(customers)
    assert abs(both - 0.01) < 0.002  # independent: 10 % of 10 %
    quarter = sum(in_holdout("x", c, share=0.25) for c in customers) / len(customers)
    assert abs(quarter - 0.25) < 0.006
    assert not any(in_holdout("x", c, share=0.0) for c in customers[:1000])
    assert 0.0 <= bucket("x", 1) < 1.0 and bucket("x", 1) == bucket("x", "1")


def test_global_control_and_bad_shares() -> None:
    assert not in_global_control("C1", 0.0)
    members = sum(in_global_control(f"C{n}", 0.05) for n in range(50_000)) / 50_000
    assert abs(members - 0.05) < 0.004
    for share in (-0.1, 1.0, 2):
        with pytest.raises(ConfigurationError, match="holdout share"):
            in_holdout("x", "C1", share=share)


# -- quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 12, 3, 12, 0), utc(2026, 12, 3, 12, 0)),  # 13:00 in Copenhagen: send
        (utc(2026, 12, 3, 20, 30), utc(2026, 12, 4, 7, 0)),  # 21:30 local: at 08:00 local
        (utc(2026, 12, 4, 5, 0), utc(2026, 12, 4, 7, 0)),  # 06:00 local: at 08:00 the same day
        (utc(2026, 12, 4, 7, 0), utc(2026, 12, 4, 7, 0)),  # 08:00 exactly: the window is over
        (utc(2026, 6, 3, 19, 30), utc(2026, 6, 4, 6, 0)),  # summer time: 21:30 CEST -> 08:00
    ],
)
def test_quiet_hours_on_the_customers_clock(at: datetime, expected: datetime) -> None:
    assert quiet_until(at, CPH, QuietHours()) == expected


def test_quiet_hours_over_a_daylight_saving_change_and_unknown_zones() -> None:
    # 2026-03-29: Copenhagen moves from 02:00 CET to 03:00 CEST; 22:00 CET on the 28th.
    assert quiet_until(utc(2026, 3, 28, 21, 0), CPH, QuietHours()) == utc(2026, 3, 29, 6, 0)
    # A window ending at 02:30, skipped that night, ends at 03:30 CEST (01:30 UTC).
    skipped = QuietHours(time(23, 0), time(2, 30))
    assert quiet_until(utc(2026, 3, 28, 23, 30), CPH, skipped) == utc(2026, 3, 29, 1, 30)
    assert customer_zone("Mars/Olympus") == CPH and customer_zone(None, "UTC").key == "UTC"
    assert not QuietHours(time(8), time(8)).contains(time(3))  # equal: no quiet hours
    assert QuietHours(time(12), time(14)).contains(time(13))  # a window within one day


# -- frequency caps ----------------------------------------------------------------------------


def sends(*items: tuple[datetime, str]) -> list[PastSend]:
    return [PastSend(at, channel) for at, channel in items]


def test_three_marketing_messages_in_seven_local_days_across_channels() -> None:
    history = sends(
        (utc(2026, 11, 27, 9, 0), "email"),  # a Friday
        (utc(2026, 11, 30, 9, 0), "sms"),
        (utc(2026, 12, 2, 9, 0), "push"),
    )
    at = utc(2026, 12, 3, 10, 0)  # Thursday: the 7 local days are Nov 27 .. Dec 3
    cap = blocking_cap(history, at, "email", "marketing", CPH)
    assert cap is not None and (cap.limit, cap.days) == (3, 7)
    # Nov 27's message stops counting at local midnight on Dec 4 (23:00 UTC on Dec 3).
    assert next_allowed(history, at, "email", "marketing", CPH) == utc(2026, 12, 3, 23, 0)
    # In Amsterdam, the same instant: the same local midnight (both CET).
    assert next_allowed(history, at, "email", "marketing", AMS) == utc(2026, 12, 3, 23, 0)
    # Transactional messages are not capped by the marketing caps.
    assert blocking_cap(history, at, "email", "transactional", CPH) is None


def test_one_per_channel_in_24_rolling_hours() -> None:
    history = sends((utc(2026, 12, 3, 8, 0), "email"))
    at = utc(2026, 12, 3, 20, 0)
    assert blocking_cap(history, at, "sms", "marketing", CPH) is None  # another channel
    allowed = next_allowed(history, at, "email", "marketing", CPH)
    assert allowed is not None and utc(2026, 12, 4, 8, 0) < allowed < utc(2026, 12, 4, 8, 0, 1)


def test_caps_are_checked_until_none_blocks_and_a_limit_of_zero_blocks_for_ever() -> None:
    caps = (FrequencyCap(2, hours=24), FrequencyCap(3, days=7))
    history = sends(
        (utc(2026, 12, 1, 12, 0), "email"),
        (utc(2026, 12, 3, 9, 0), "email"),
        (utc(2026, 12, 3, 11, 0), "sms"),
    )
    at = utc(2026, 12, 3, 12, 0)
    allowed = next_allowed(history, at, "push", "marketing", CPH, caps)
    assert allowed is not None
    assert blocking_cap(history, allowed, "push", "marketing", CPH, caps) is None
    assert blocking_cap(history, allowed - timedelta(seconds=1), "push", "marketing", CPH, caps)
    assert next_allowed([], at, "email", "marketing", CPH, (FrequencyCap(0, days=1),)) is None
    assert len(DEFAULT_CAPS) == 5


@pytest.mark.parametrize(
    "arguments", [{"limit": 1}, {"limit": 1, "days": 1, "hours": 1}, {"limit": -1, "days": 1}]
)
def test_a_cap_needs_one_window_and_a_limit(arguments: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        FrequencyCap(**arguments)


# -- best hour ---------------------------------------------------------------------------------


def test_the_customers_best_hour_on_their_own_clock() -> None:
    # Orders and clicks at 19-20 h Copenhagen time (18-19 UTC in winter).
    times = [utc(2026, 11, d, 18, 10) for d in range(1, 6)] + [utc(2026, 11, 9, 19, 0)]
    assert best_hour(times, CPH) == 19
    assert best_hour(times[:2], CPH) is None  # too few: use the shop's best hour
    assert best_hour(times[:2], CPH, minimum=2) == 19


def test_the_next_send_at_the_best_hour() -> None:
    assert next_at_hour(utc(2026, 12, 3, 10, 0), CPH, 19) == utc(2026, 12, 3, 18, 0)
    assert next_at_hour(utc(2026, 12, 3, 18, 30), CPH, 19) == utc(2026, 12, 4, 18, 0)
    assert next_at_hour(utc(2026, 6, 3, 10, 0), CPH, 19) == utc(2026, 6, 3, 17, 0)  # CEST
    with pytest.raises(ConfigurationError):
        next_at_hour(utc(2026, 6, 3, 10, 0), CPH, 24)
