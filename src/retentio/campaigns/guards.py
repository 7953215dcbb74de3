"""When a message may go: quiet hours and frequency caps in the customer's own time zone, and
the hour at which each customer is most likely to read it (send-time optimisation).

Pure rules: they take times, the customer's zone and the customer's past sends, and return
an instant (UTC) or a decision. The delivery engine asks them before it sends. Messages
flagged as exempt (transactional, explicitly) skip the guards.

- **Quiet hours** (default 21:00-08:00) are read on the customer's local clock.
  :func:`quiet_until` gives the instant the window ends, and the engine holds the message
  until then (or drops it, if the campaign says so).
- **Frequency caps** such as "at most 3 marketing messages in 7 days across channels" and
  "1 per channel per 24 hours". A cap in *days* counts local calendar days (today and the
  days before, in the customer's zone); a cap in *hours* is a rolling window.
  :func:`next_allowed` gives the first instant no cap blocks.
- **Best hour.** Each customer's best hour is found from their own order, open and click
  times, read on their local clock: the most frequent hour, smoothed with its neighbours.
  Below ``minimum`` observations there is none, and the shop's best hour is used instead:
  the hour most customers have as their own (the earliest of equal ones).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retentio.core.errors import ConfigurationError

__all__ = [
    "DEFAULT_CAPS",
    "PREFERRED_FREQUENCY_CAPS",
    "FrequencyCap",
    "PastSend",
    "QuietHours",
    "best_hour",
    "blocking_cap",
    "customer_zone",
    "next_allowed",
    "next_at_hour",
    "quiet_until",
    "snoozed",
]

_DAY = timedelta(days=1)


def customer_zone(name: str | None, default: str = "Europe/Copenhagen") -> ZoneInfo:
    """The customer's time zone, or ``default`` when it is unset or unknown."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    raise ConfigurationError(f"unknown default time zone {default!r}")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """No messages from ``start`` to ``end`` on the customer's clock (may span midnight);
    equal times mean no quiet hours."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, local: time) -> bool:
        """Whether the local time of day falls in the quiet window."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def quiet_until(at: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """``at`` if it is outside the quiet hours on the customer's clock; else the instant
    (UTC) the quiet window ends there."""
    local = at.astimezone(zone)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return at
    day = local.date() if local.time().replace(tzinfo=None) < quiet.end else local.date() + _DAY
    return _local_instant(day, quiet.end, zone)


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of the local wall time ``at`` on ``day``. A time the clocks skipped
    (spring forward: 02:30 on a day that goes from 02:00 to 03:00) is moved on by the skipped
    hour (03:30); a time they show twice (autumn) is its first occurrence."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``limit`` messages of ``purposes`` in ``days`` local calendar days or in a
    rolling ``hours``, on ``channel`` (None: across every channel)."""

    limit: int
    days: int | None = None
    hours: int | None = None
    channel: str | None = None
    purposes: tuple[str, ...] = ("marketing",)

    def __post_init__(self) -> None:
        if self.limit < 0 or (self.days is None) == (self.hours is None):
            raise ConfigurationError("a frequency cap has a limit >= 0 and either days or hours")
        if (self.days or self.hours or 0) <= 0:
            raise ConfigurationError("a frequency cap's window is at least 1 day or 1 hour")

    def applies(self, channel: str, purpose: str) -> bool:
        return purpose in self.purposes and self.channel in (None, channel)

    def window_start(self, at: datetime, zone: ZoneInfo) -> datetime:
        """The first instant that counts for a message sent at ``at``."""
        if self.hours is not None:
            return at - timedelta(hours=self.hours)
        assert self.days is not None  # noqa: S101 (checked above)
        first_day = at.astimezone(zone).date() - (self.days - 1) * _DAY
        return _local_instant(first_day, time(0), zone)


#: Issue 5's example: 3 marketing messages in 7 days across channels, 1 per channel a day.
DEFAULT_CAPS = (
    FrequencyCap(3, days=7),
    *(FrequencyCap(1, hours=24, channel=c) for c in ("email", "sms", "push", "in_app")),
)


#: The frequency a customer chose (the ``frequency`` preference they stated) as a cap on their
#: marketing across channels; ``as_it_happens`` adds none. A message over it is skipped, not
#: held: it would pile up behind the ones the customer did get.
PREFERRED_FREQUENCY_CAPS: dict[str, FrequencyCap] = {
    "weekly": FrequencyCap(1, days=7),
    "monthly": FrequencyCap(1, days=30),
}


def snoozed(until: date | None, at: datetime, zone: ZoneInfo) -> bool:
    """Whether a marketing snooze whose last day (on the customer's clock) is ``until``
    covers the instant ``at``."""
    return until is not None and at.astimezone(zone).date() <= until


@dataclass(frozen=True, slots=True)
class PastSend:
    """A message the customer was sent: when (UTC), over which channel, for what."""

    at: datetime
    channel: str
    purpose: str = "marketing"


def _counted(
    cap: FrequencyCap, sends: Sequence[PastSend], start: datetime, at: datetime
) -> list[datetime]:
    return sorted(s.at for s in sends if cap.applies(s.channel, s.purpose) and start <= s.at <= at)


def blocking_cap(
    sends: Sequence[PastSend],
    at: datetime,
    channel: str,
    purpose: str,
    zone: ZoneInfo,
    caps: Sequence[FrequencyCap] = DEFAULT_CAPS,
) -> FrequencyCap | None:
    """The first cap that a message on ``channel`` for ``purpose`` at ``at`` would break."""
    for cap in caps:
        if cap.applies(channel, purpose):
            counted = _counted(cap, sends, cap.window_start(at, zone), at)
            if len(counted) >= cap.limit:
                return cap
    return None


def next_allowed(
    sends: Sequence[PastSend],
    at: datetime,
    channel: str,
    purpose: str,
    zone: ZoneInfo,
    caps: Sequence[FrequencyCap] = DEFAULT_CAPS,
) -> datetime | None:
    """The first instant from ``at`` at which no cap blocks the message (None: never, a cap
    with limit 0)."""
    candidate = at
    for _ in range(100):  # each round passes at least one send out of a window
        cap = blocking_cap(sends, candidate, channel, purpose, zone, caps)
        if cap is None:
            return candidate
        if cap.limit == 0:
            return None
        counted = _counted(cap, sends, cap.window_start(candidate, zone), candidate)
        oldest_kept = counted[len(counted) - cap.limit]  # must leave the window
        candidate = max(candidate, _leaves_window(cap, oldest_kept, zone))
    return candidate  # pragma: no cover (more sends than rounds: unreachable in practice)


def _leaves_window(cap: FrequencyCap, sent: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which ``sent`` no longer counts for ``cap``."""
    if cap.hours is not None:
        return sent + timedelta(hours=cap.hours) + timedelta(microseconds=1)
    assert cap.days is not None  # noqa: S101
    return _local_instant(sent.astimezone(zone).date() + cap.days * _DAY, time(0), zone)


def best_hour(times: Iterable[datetime], zone: ZoneInfo, *, minimum: int = 3) -> int | None:
    """The local hour (0-23) at which these times (orders, opens, clicks) cluster: each hour's
    count plus half of each neighbour's (around midnight too), the earliest of equal ones.
    None with fewer than ``minimum`` times."""
    hours = Counter(t.astimezone(zone).hour for t in times)
    if sum(hours.values()) < minimum:
        return None
    score = {h: hours[h] + (hours[(h - 1) % 24] + hours[(h + 1) % 24]) / 2 for h in range(24)}
    return max(range(24), key=lambda h: (score[h], -h))


def next_at_hour(at: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The first instant from ``at`` (UTC) at which the customer's clock shows ``hour``:00."""
    if not 0 <= hour <= 23:
        raise ConfigurationError(f"an hour of the day is 0-23, not {hour}")
    local = at.astimezone(zone)
    for offset in range(3):
        candidate = _local_instant(local.date() + offset * _DAY, time(hour), zone)
        if candidate >= at:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover
