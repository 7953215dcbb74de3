"""Loyalty events drive journeys, on SQLite and PostgreSQL: a reward redeemed sends its coupon
code, points about to expire send a reminder with the points and the date, each through a
real SMTP server on loopback."""

from __future__ import annotations

from datetime import timedelta
from email.message import Message

from campaign_helpers import NOON, add_shop, make_worker
from smtp_helpers import Sink
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retentio.campaigns import advance_journeys, save_journey
from retentio.core.clock import FixedClock
from retentio.loyalty import adjust_points, expire_points, parse_programme
from retentio.loyalty.coupons import redeem_reward

PROGRAMME = parse_programme(
    {
        "expiry": {"months": 12},
        "rewards": [{"id": "50-off", "kind": "amount_off", "amount": 50, "points": 500}],
    }
)


def journey(name: str, event: str, text: str) -> dict[str, object]:
    return {
        "name": name,
        "trigger": {"event": event},
        "holdout": 0,
        "quiet_hours": False,
        "steps": [{"send": {"message": {"en": {"subject": name, "text": text}}}}],
    }


def body(message: Message) -> str:
    part = message.get_body(preferencelist=("plain",)) if hasattr(message, "get_body") else None
    payload = (part or message).get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def test_coupons_and_expiring_points_reach_the_member(
    migrated_engine: Engine, sink: tuple[Sink, int]
) -> None:
    handler, port = sink
    add_shop(migrated_engine, [{"external_id": "ida", "email": "ida@example.com"}])
    clock = FixedClock(NOON)
    with Session(migrated_engine) as session:
        save_journey(
            session,
            journey(
                "your-code",
                "reward_redeemed",
                "Your code {{ loyalty_coupon }} ({{ loyalty_coupon_reward }}) is valid until "
                "{{ loyalty_coupon_expire_date }}; {{ loyalty_points }} points left.",
            ),
            clock=clock,
        )
        save_journey(
            session,
            journey(
                "expiring",
                "points_expiring",
                "{{ loyalty_points_expiring }} points expire on {{ loyalty_points_expire_date }}",
            ),
            clock=clock,
        )
        adjust_points(
            session, PROGRAMME, customer="ida", points=800, key="welcome", reason="welcome",
            now=NOON - timedelta(days=340), recorded_by="test",
        )  # fmt: skip
        coupon = redeem_reward(
            session, PROGRAMME, customer="ida", reward_id="50-off", key="r1",
            now=NOON + timedelta(minutes=1), recorded_by="test",
        )  # fmt: skip
        expire_points(session, PROGRAMME, now=NOON + timedelta(minutes=2))  # 300 in 25 days
    clock.advance(timedelta(minutes=5))
    with Session(migrated_engine) as session:
        advance_journeys(session, clock=clock)
    worker, channel = make_worker(migrated_engine, port, clock)
    with worker:
        # the frequency cap (one marketing message a day) holds the second until tomorrow
        assert worker.run(until_idle=True).to_dict() == {"held": 1, "sent": 1}
        clock.advance(timedelta(days=1, hours=1))
        assert worker.run(until_idle=True).to_dict() == {"sent": 1}
    texts = {str(m["Subject"]): body(m) for m in handler.received}
    expires = coupon.expires_at.date().isoformat()
    assert texts["your-code"].startswith(
        f"Your code {coupon.code} (50-off) is valid until {expires}; 300 points left."
    )
    # the welcome points came on 2025-12-28: their lot's 12 months end on 2026-12-28
    assert texts["expiring"].startswith("300 points expire on 2026-12-28")
