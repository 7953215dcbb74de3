"""Birthday points, granted by the round: a member whose ``birthday`` attribute (``YYYY-MM-DD``
or ``MM-DD``) falls on today on their own clock (their time zone, else the programme's) gets
the programme's ``birthday`` action once that year. A round missed for up to 3 days catches
up; a birthday on 29 February counts on 28 February in other years. Points the shop posted
itself that year count against the same yearly limit, so nobody gets two.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from retentio.loyalty.ledger import LimitReached, earn_for_action
from retentio.loyalty.programme import Programme
from retentio.store.loyalty_tables import LoyaltyAccount
from retentio.store.tables import Customer

__all__ = ["CATCH_UP_DAYS", "birthday_in", "grant_birthdays"]

CATCH_UP_DAYS = 3
CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]


def birthday_in(text: str, year: int) -> date | None:
    """The birthday ``text`` (``YYYY-MM-DD``, ``MM-DD`` or ``--MM-DD``) in ``year``; None
    when it is not a date."""
    parts = text.strip().lstrip("-").split("-")[-2:]
    try:
        month, day = (int(part) for part in parts)
    except ValueError:
        return None
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    if month == 2 and day == 29 and not calendar.isleap(year):
        day = 28
    if day > calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else default
    except (ZoneInfoNotFoundError, ValueError):
        return default


def _recent(birthday: str, today: date) -> date | None:
    """The birthday of the last ``CATCH_UP_DAYS`` days (this year's, or last year's over New
    Year), or None."""
    for year in (today.year, today.year - 1):
        day = birthday_in(birthday, year)
        if day is not None and 0 <= (today - day).days < CATCH_UP_DAYS:
            return day
    return None


def grant_birthdays(session: Session, programme: Programme, *, now: datetime) -> int:
    """Grant the ``birthday`` action to the members whose birthday is today (see the module's
    docstring); returns how many got points now."""
    if "birthday" not in programme.actions:
        return 0
    c = CUSTOMERS.c
    text = c.attributes["birthday"].as_string()
    days = {(now - timedelta(days=n)).date() for n in range(-1, CATCH_UP_DAYS + 1)}
    endings = sorted({f"{day.month:02d}-{day.day:02d}" for day in days} | {"02-29"})
    found = session.execute(
        select(c.external_id, c.time_zone, text)
        .join(LoyaltyAccount, LoyaltyAccount.customer_id == c.id)
        .where(c.erased_at.is_(None), or_(*(text.like(f"%{end}") for end in endings)))
    ).all()
    session.rollback()
    granted = 0
    for external_id, zone_name, birthday in found:
        zone = _zone(zone_name, programme.zone)
        today = now.astimezone(zone).date()
        day = _recent(str(birthday), today)
        if day is None:
            continue
        try:
            posted = earn_for_action(
                session,
                programme,
                customer=external_id,
                action="birthday",
                key=f"birthday-{day.year}",
                now=now,
                # dated on the birthday itself, so a late round counts in the birthday's year
                occurred_at=datetime.combine(day, time(), zone),
                recorded_by="retentio",
                note=f"birthday {day.isoformat()}",
            )
        except LimitReached:  # the shop gave this year's already
            continue
        granted += 0 if posted.repeated else 1
    return granted
