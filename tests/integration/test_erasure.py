"""Erasure on SQLite and PostgreSQL: no trace of the person in any column of any table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from privacy_helpers import (
    ACTOR,
    SECRET,
    T0,
    add_customer,
    add_event,
    add_order,
    dump_every_table,
    with_texts,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.feedback import record_response, save_survey, set_preferences
from retentio.loyalty import adjust_points, parse_programme
from retentio.loyalty.coupons import redeem_reward
from retentio.privacy import (
    DEFAULT_TEXT_VERSION,
    NotFoundError,
    audit_entries,
    current_consents,
    erase_person,
    erasure,
    export_person,
    is_suppressed,
    pseudonym,
    record_consent,
    start_double_opt_in,
)
from retentio.store.feedback_tables import CustomerPreference, PreferenceEvent, SurveyResponse
from retentio.store.loyalty_tables import LoyaltyAccount, LoyaltyCoupon, LoyaltyEntry
from retentio.store.subscription_tables import Subscription, SubscriptionEvent
from retentio.store.tables import (
    ApiKey,
    ConsentConfirmation,
    ConsentEvent,
    Customer,
    Event,
    IdempotencyKey,
    Order,
    OrderLine,
    Refund,
)
from retentio.subscriptions import Cadence, Policy, cancel_subscription, create_subscription

PROGRAMME = parse_programme(
    {"rewards": [{"id": "mug", "kind": "free_product", "product": "MUG", "points": 100}]}
)
EMAIL = "Zelda.Quixotic@Example.dk"
PHONE_TYPED = "20 99 31 47"  # Danish, written without country code
PHONE_E164 = "+4520993147"
NAME = "Zelmerina"
EXTERNAL = "zelda-shop-7731"


def make_person(engine: Engine) -> None:
    """A person whose data is spread over every table that can hold it, and a bystander."""
    with_texts(engine)
    with Session(engine) as session:
        zelda = add_customer(
            session,
            EXTERNAL,
            email=EMAIL,
            phone=PHONE_TYPED,
            first_name=NAME,
            locale="da-DK",
            time_zone="Europe/Copenhagen",
            country="DK",
            attributes={"nickname": NAME, "backup_email": EMAIL.lower(), "vip": True},
        )
        other = add_customer(session, "bystander", email="other@example.nl", first_name="Bo")
        add_order(
            session,
            zelda,
            "order-1",
            lines=(("SKU-1", "Candle", 10000), ("GIFT", f"Gift card for {NAME}", 5000)),
            refund_minor=5000,
        )
        add_order(session, other, "order-2")
        add_event(session, zelda, "viewed", {"email": EMAIL, "phone": PHONE_E164}, T0)
        add_event(session, other, "viewed", {"page": "/"}, T0)
        record_consent(
            session,
            customer=EXTERNAL,
            channel="sms",
            purpose="marketing",
            granted=True,
            lawful_basis="soft_opt_in",
            source="pos",
            source_detail=f"till 3, served {NAME}",
            ip_address="198.51.100.23",
            user_agent="ZeldaPhone/1.0",
            recorded_by="api:abc",
        )
        start_double_opt_in(
            session,
            customer=EXTERNAL,
            text_version=DEFAULT_TEXT_VERSION,
            language="da",
            source="form",
            source_detail=f"https://shop.example/signup?email={EMAIL}",
            ip_address="198.51.100.23",
            user_agent="ZeldaPhone/1.0",
            recorded_by="api:abc",
        )
        key = ApiKey(name="k", prefix="p1", secret_sha256="0" * 64, scope="write")
        session.add(key)
        session.flush()
        session.add(
            IdempotencyKey(
                api_key_id=key.id,
                endpoint="POST /api/v1/customers",
                key="idem-1",
                fingerprint="f" * 64,
                state="done",
                response_status=201,
                response_body=f'{{"email": "{EMAIL.lower()}", "phone": "{PHONE_E164}"}}',
                expires_at=T0 + timedelta(days=1),
            )
        )
        session.commit()
        for customer in (EXTERNAL, "bystander"):
            adjust_points(
                session,
                PROGRAMME,
                customer=customer,
                points=500,
                key=f"welcome-{customer}",
                reason="welcome",
                now=T0,
                recorded_by=ACTOR,
            )
        redeem_reward(
            session,
            PROGRAMME,
            customer=EXTERNAL,
            reward_id="mug",
            key="r1",
            now=T0,
            recorded_by=ACTOR,
        )
        made = create_subscription(
            session,
            Policy(),
            customer=EXTERNAL,
            cadence=Cadence("week", 2),
            currency="DKK",
            items=[{"product": "CANDLE", "quantity": 1, "price": "80.00"}],
            now=T0,
            actor=ACTOR,
        )
        cancel_subscription(
            session,
            Policy(),
            made.body["id"],
            reason="other",
            note=f"ask {NAME} first",
            key="c1",
            now=T0,
            actor=ACTOR,
        )
        set_preferences(
            session, EXTERNAL, {"sizes": {"shoes": "38"}}, source="api", actor=ACTOR, now=T0
        )
        survey, _created = save_survey(session, {"name": "nps", "kind": "nps"}, now=T0)
        record_response(
            session, survey, EXTERNAL, 3, None, f"Call {PHONE_E164}", "api", "a1", now=T0
        )
        export_person(session, EXTERNAL, actor=ACTOR)  # an audited read before the erasure


def needles() -> list[str]:
    return [EMAIL, EMAIL.lower(), PHONE_TYPED, PHONE_E164, PHONE_E164[1:], NAME, EXTERNAL]


def test_erasure_leaves_no_trace_in_any_table(migrated_engine: Engine) -> None:
    make_person(migrated_engine)
    before = dump_every_table(migrated_engine)
    for needle in (EMAIL, PHONE_TYPED, NAME, EXTERNAL, "198.51.100.23", "ZeldaPhone"):
        assert needle.lower() in "\n".join(before.values()).lower()  # the scan can see them
    with Session(migrated_engine) as session:
        report = erase_person(session, SECRET, EXTERNAL, actor=ACTOR)
    assert report.customer == pseudonym(SECRET, EXTERNAL) and not report.already_erased
    after = dump_every_table(migrated_engine)
    for table, rows in after.items():
        for needle in [*needles(), "198.51.100.23", "ZeldaPhone"]:
            assert needle.lower() not in rows.lower(), f"{needle!r} is left in {table}"
    assert "other@example.nl" in after["customers"]  # the bystander is untouched
    with Session(migrated_engine) as session:
        row = session.scalars(select(Customer).where(Customer.external_id == report.customer)).one()
        assert row.erased_at is not None and row.attributes == {} and row.country == "DK"
        orders = session.scalars(select(Order).where(Order.customer_id == row.id)).all()
        assert [o.external_id for o in orders] == ["order-1"]  # kept for accounting
        lines = session.scalars(select(OrderLine).where(OrderLine.order_id == orders[0].id)).all()
        assert sorted((x.sku, x.name) for x in lines) == [("GIFT", None), ("SKU-1", "Candle")]
        assert session.scalar(select(func.count()).select_from(Refund)) == 1
        assert session.scalars(select(Event.customer_id)).all() != []  # the bystander's event
        assert session.scalar(select(func.count()).where(Event.customer_id == row.id)) == 0
        assert session.scalar(select(func.count()).select_from(ConsentConfirmation)) == 0
        ledger = session.scalars(
            select(ConsentEvent).where(ConsentEvent.customer_id == row.id).order_by(ConsentEvent.id)
        ).all()
        assert len(ledger) == 4  # two grants kept as proof, two withdrawals added
        assert [e.source for e in ledger[-2:]] == ["erasure", "erasure"]
        assert all(c.status == "withdrawn" for c in current_consents(session, report.customer))
        body = session.scalars(select(IdempotencyKey.response_body)).one()
        assert body == '{"erased": true}'
        for typed in (EMAIL, " zelda.quixotic@example.DK"):
            assert is_suppressed(session, SECRET, channel="email", address=typed)
        assert is_suppressed(session, SECRET, channel="sms", address=PHONE_E164)
        assert not is_suppressed(session, SECRET, channel="email", address="other@example.nl")
        assert session.scalar(select(func.count()).select_from(LoyaltyCoupon)) == 0
        [account] = session.scalars(select(LoyaltyAccount)).all()  # the bystander's
        assert account.available == 500
        assert session.scalar(select(func.count()).select_from(LoyaltyEntry)) == 1
        assert report.loyalty_rows_deleted == 4  # account, 2 entries, coupon
        assert report.subscriptions_cancelled == 1
        # a preference, its history, the answer, and the subscription's 3 events
        assert report.first_party_deleted == 6
        subscription = session.scalars(select(Subscription)).one()
        assert (subscription.status, subscription.cancel_reason) == ("cancelled", "erased")
        for table in (CustomerPreference, PreferenceEvent, SurveyResponse, SubscriptionEvent):
            assert session.scalar(select(func.count()).select_from(table)) == 0
        audit = audit_entries(session, customer=report.customer)
        assert [a.action for a in audit] == ["person.export", "person.erase"]
        # "viewed", "reward_redeemed" and "survey_answered"
        assert audit[-1].details["events_deleted"] == 3 and audit[-1].actor == ACTOR


def test_erasing_again_changes_nothing_and_unknown_ids_are_named(migrated_engine: Engine) -> None:
    make_person(migrated_engine)
    with Session(migrated_engine) as session:
        first = erase_person(session, SECRET, EXTERNAL, actor=ACTOR)
        snapshot = dump_every_table(migrated_engine)
        for name in (EXTERNAL, first.customer):
            again = erase_person(session, SECRET, name, actor=ACTOR)
            assert again.already_erased and again.customer == first.customer
            assert again.events_deleted == 0
        assert dump_every_table(migrated_engine) == snapshot
        with pytest.raises(NotFoundError, match="nobody"):
            erase_person(session, SECRET, "nobody", actor=ACTOR)


def test_an_erasure_that_fails_writes_nothing(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_person(migrated_engine)
    snapshot = dump_every_table(migrated_engine)

    def broken(*_args: object) -> int:  # fails after suppressions and withdrawals are written
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "_scrub_order_lines", broken)
    with Session(migrated_engine) as session, pytest.raises(RuntimeError, match="disk full"):
        erase_person(session, SECRET, EXTERNAL, actor=ACTOR, now=datetime(2026, 4, 1, tzinfo=UTC))
    assert dump_every_table(migrated_engine) == snapshot
    monkeypatch.undo()
    with Session(migrated_engine) as session:
        erase_person(session, SECRET, EXTERNAL, actor=ACTOR, now=datetime(2026, 5, 1, tzinfo=UTC))
