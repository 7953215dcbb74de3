"""The retention purge on SQLite and PostgreSQL: each category, dry runs, inactive customers."""

from __future__ import annotations

from datetime import timedelta

from privacy_helpers import ACTOR, SECRET, T0, add_customer, add_event, add_order, with_texts
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retentio.privacy import (
    DEFAULT_TEXT_VERSION,
    RetentionPolicy,
    audit_entries,
    record_access,
    record_consent,
    start_double_opt_in,
)
from retentio.privacy import purge as run_purge
from retentio.store.tables import (
    ApiKey,
    AuditEntry,
    ConsentConfirmation,
    Customer,
    Event,
    IdempotencyKey,
)

NOW = T0 + timedelta(days=2000)
POLICY = RetentionPolicy(events_days=365, inactive_customer_days=1000, audit_days=500)


def make_history(engine: Engine) -> None:
    """Old and recent rows in every category the purge knows."""
    with_texts(engine)
    with Session(engine) as session:
        old = T0 - timedelta(days=100)
        lapsed = add_customer(session, "lapsed", email="lapsed@example.dk", created_at=old)
        buyer = add_customer(session, "buyer", email="buyer@example.dk", created_at=old)
        subscriber = add_customer(session, "sub", email="sub@example.dk", created_at=old)
        add_customer(session, "newcomer", email="new@example.dk", created_at=NOW)
        add_order(session, lapsed, "o-old", at=T0)
        add_order(session, buyer, "o-new", at=NOW - timedelta(days=10))
        add_order(session, subscriber, "o-sub", at=T0)
        record_consent(
            session,
            customer="sub",
            channel="email",
            purpose="marketing",
            granted=True,
            lawful_basis="soft_opt_in",
            source="import",
            recorded_by=ACTOR,
            now=T0,
        )
        add_event(session, lapsed, "old", {}, T0)  # old: purged with the customer
        add_event(session, buyer, "old", {}, NOW - timedelta(days=400))
        add_event(session, buyer, "recent", {}, NOW - timedelta(days=5))
        start_double_opt_in(
            session,
            customer="buyer",
            text_version=DEFAULT_TEXT_VERSION,
            language="da",
            source="form",
            recorded_by=ACTOR,
            now=NOW - timedelta(days=30),
        )  # expired long ago
        start_double_opt_in(
            session,
            customer="buyer",
            text_version=DEFAULT_TEXT_VERSION,
            language="da",
            source="form",
            recorded_by=ACTOR,
            now=NOW - timedelta(hours=1),
        )  # still valid
        key = ApiKey(name="k", prefix="p1", secret_sha256="0" * 64, scope="write")
        session.add(key)
        session.flush()
        for name, expires in (("gone", NOW - timedelta(hours=1)), ("kept", NOW + timedelta(1))):
            session.add(
                IdempotencyKey(
                    api_key_id=key.id,
                    endpoint="POST /x",
                    key=name,
                    fingerprint="f",
                    state="done",
                    expires_at=expires,
                )
            )
        record_access(session, ACTOR, "old.read", None, {}, now=NOW - timedelta(days=600))
        record_access(session, ACTOR, "new.read", None, {}, now=NOW - timedelta(days=6))
        session.commit()


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            "events": session.scalar(select(func.count()).select_from(Event)) or 0,
            "confirmations": session.scalar(select(func.count()).select_from(ConsentConfirmation))
            or 0,
            "idempotency_keys": session.scalar(select(func.count()).select_from(IdempotencyKey))
            or 0,
            "audit_log": session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
            "erased": session.scalar(select(func.count()).where(Customer.erased_at.is_not(None)))
            or 0,
        }


def test_a_dry_run_counts_and_a_purge_removes_exactly_that(migrated_engine: Engine) -> None:
    make_history(migrated_engine)
    before = counts(migrated_engine)
    with Session(migrated_engine) as session:
        dry = run_purge(session, SECRET, POLICY, NOW, dry_run=True)
    assert counts(migrated_engine) == before  # a dry run changes nothing
    expected = {
        "events": 2,  # the lapsed customer's and the buyer's 400-day-old event
        "confirmations": 1,
        "idempotency_keys": 1,
        "inactive_customers": 1,  # lapsed; not the buyer, the subscriber or the newcomer
        "audit_log": 4,  # old.read and the 3 text publications (wall clock, years before NOW)
    }
    assert dry.counts == expected and dry.dry_run
    with Session(migrated_engine) as session:
        report = run_purge(session, SECRET, POLICY, NOW, actor="job:retention")
        assert report.counts == expected
        erased = session.scalars(select(Customer).where(Customer.erased_at.is_not(None))).one()
        assert erased.email is None and erased.external_id.startswith("erased-")
        kept = set(session.scalars(select(Customer.external_id).where(Customer.email.is_not(None))))
        assert kept == {"buyer", "sub", "newcomer"}
        assert [e.name for e in session.scalars(select(Event))] == ["recent"]
        assert [k.key for k in session.scalars(select(IdempotencyKey))] == ["kept"]
        purges = audit_entries(session, action="retention.purge")
        assert [p.details for p in purges] == [expected]
    with Session(migrated_engine) as session:
        again = run_purge(session, SECRET, POLICY, NOW)
    assert set(again.counts.values()) == {0}


def test_none_keeps_a_category_for_ever(migrated_engine: Engine) -> None:
    make_history(migrated_engine)
    keep_all = RetentionPolicy(
        events_days=None,
        inactive_customer_days=None,
        audit_days=None,
        confirmations=False,
        idempotency_keys=False,
    )
    before = counts(migrated_engine)
    with Session(migrated_engine) as session:
        report = run_purge(session, SECRET, keep_all, NOW)
    assert report.counts == {}
    after = counts(migrated_engine)
    assert after == {**before, "audit_log": before["audit_log"] + 1}  # the purge's own entry
