"""The consent ledger, texts, double opt-in and withdrawal on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from privacy_helpers import ACTOR, SECRET, T0, add_customer, add_order, with_texts
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from threads import run_in_threads

from retentio.core.signing import Signer, TokenError
from retentio.privacy import (
    DEFAULT_TEXT_VERSION,
    ConsentError,
    NotFoundError,
    confirm_double_opt_in,
    confirmation_message,
    current_consents,
    is_marketable,
    list_texts,
    publish_text,
    record_consent,
    start_double_opt_in,
    suppress,
    withdraw_consent,
    withdraw_with_token,
    withdrawal_token,
)
from retentio.store.tables import ConsentConfirmation, ConsentEvent

SIGNER = Signer({"k1": b"w" * 32}, "k1")


def grant(session: Session, customer: str, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "customer": customer,
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "lawful_basis": "consent",
        "source": "form",
        "source_detail": "https://shop.example/signup",
        "text_version": DEFAULT_TEXT_VERSION,
        "language": "da",
        "ip_address": "192.0.2.7",
        "user_agent": "Mozilla/5.0",
        "recorded_by": "api:abc",
    }
    fields.update(overrides)
    return record_consent(session, **fields)


def ledger_state(session: Session, customer_id: int) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The current state rebuilt here, from the ledger rows, by the rules in the docs:
    the last event decides granted; e-mail marketing by consent counts once confirmed."""
    rows = session.execute(
        text(
            "SELECT channel, purpose, granted, is_confirmation, lawful_basis, id "
            "FROM consent_events WHERE customer_id = :c ORDER BY id"
        ),
        {"c": customer_id},
    ).all()
    state: dict[tuple[str, str], tuple[Any, ...]] = {}
    for channel, purpose, granted, confirmation, basis, event_id in rows:
        key = (channel, purpose)
        before = state.get(key)
        if not granted:
            state[key] = (False, None, False, event_id)
        elif confirmation:
            was_granted = before is not None and before[0]
            state[key] = (
                (True, before[1], True, event_id)
                if was_granted and before
                else (False, None, False, event_id)
            )
        elif channel == "email" and purpose == "marketing" and basis == "consent":
            kept = before is not None and before[0] and before[1] == "consent" and before[2]
            state[key] = (True, basis, bool(kept), event_id)
        else:
            state[key] = (True, basis, True, event_id)
    return state


def stored_state(session: Session, customer_id: int) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = session.execute(
        text(
            "SELECT channel, purpose, granted, lawful_basis, confirmed_at, last_event_id "
            "FROM consents WHERE customer_id = :c"
        ),
        {"c": customer_id},
    ).all()
    return {(ch, pu): (bool(g), b, c is not None, e) for ch, pu, g, b, c, e in rows}


def test_the_current_state_is_the_ledger_replayed(migrated_engine: Engine) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        anna = add_customer(session, "c-1", email="anna@example.dk", phone="+4520123456")
        add_order(session, anna, "o-1")
        grant(session, "c-1")
        grant(
            session,
            "c-1",
            channel="sms",
            lawful_basis="soft_opt_in",
            text_version=None,
            language=None,
        )
        pending = start_double_opt_in(
            session,
            customer="c-1",
            text_version=DEFAULT_TEXT_VERSION,
            language="en",
            source="form",
            recorded_by="api:abc",
        )
        confirm_double_opt_in(session, pending.token)
        withdraw_consent(
            session, customer="c-1", channel="sms", purpose="marketing", recorded_by="api:abc"
        )
        grant(session, "c-1", text_version=DEFAULT_TEXT_VERSION, language="nl")  # re-grant
        assert stored_state(session, anna.id) == ledger_state(session, anna.id)
        shown = {(c.channel, c.purpose): c.status for c in current_consents(session, "c-1")}
        assert shown == {("email", "marketing"): "granted", ("sms", "marketing"): "withdrawn"}
        events = session.scalar(select(func.count()).select_from(ConsentEvent))
        assert events == 6  # grant, soft opt-in, grant, confirmation, withdrawal, re-grant


def test_each_event_records_how_and_which_text(migrated_engine: Engine) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        add_customer(session, "c-1", email="anna@example.dk")
        state = grant(session, "c-1")
        assert state.status == "pending" and state.lawful_basis == "consent"
        event = session.scalars(select(ConsentEvent)).one()
        assert (event.source, event.source_detail, event.ip_address, event.recorded_by) == (
            "form",
            "https://shop.example/signup",
            "192.0.2.7",
            "api:abc",
        )
        shown = session.execute(
            text("SELECT version, language, text FROM consent_texts WHERE id = :i"),
            {"i": event.text_id},
        ).one()
        assert shown[0] == DEFAULT_TEXT_VERSION and shown[1] == "da"
        assert "Du kan til enhver tid trække dit samtykke tilbage" in shown[2]


def test_soft_opt_in_needs_an_order_and_no_earlier_objection(migrated_engine: Engine) -> None:
    with Session(migrated_engine) as session:
        bo = add_customer(session, "c-2", email="bo@example.dk")
        soft = {"lawful_basis": "soft_opt_in", "text_version": None, "language": None}
        with pytest.raises(ConsentError, match="soft_opt_in needs an order"):
            grant(session, "c-2", **soft)
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
        add_order(session, bo, "o-2")
        assert grant(session, "c-2", **soft).status == "granted"
        assert is_marketable(session, SECRET, "c-2", "email")
        withdraw_consent(
            session, customer="c-2", channel="email", purpose="marketing", recorded_by="api:abc"
        )
        with pytest.raises(ConsentError, match="withdrew"):
            grant(session, "c-2", **soft)
        with pytest.raises(ConsentError, match="only e-mail and SMS marketing"):
            grant(session, "c-2", purpose="surveys", **soft)


def test_unknown_or_mismatched_text_versions_are_refused(migrated_engine: Engine) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        add_customer(session, "c-3", email="c@example.dk")
        with pytest.raises(ConsentError, match="no published consent text 'v-404'"):
            grant(session, "c-3", text_version="v-404")
        with pytest.raises(ConsentError, match="no published consent text"):
            grant(session, "c-3", language="de")
        with pytest.raises(ConsentError, match="must name the published text"):
            grant(session, "c-3", text_version=None, language=None)
        with pytest.raises(ConsentError, match="is a email marketing text, not sms"):
            grant(session, "c-3", channel="sms")
        with pytest.raises(NotFoundError, match="no customer"):
            grant(session, "nobody")
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0


@pytest.mark.parametrize(
    ("language", "without", "with_withdrawal"),
    [
        ("da", "Ja tak til nyhedsbreve fra os.", "Ja tak. Du kan altid afmelde dig igen."),
        ("en", "Yes, send me news.", "Yes, send me news. You can unsubscribe at any time."),
        ("nl", "Ja, stuur mij nieuws.", "Ja, stuur mij nieuws. Je kunt je altijd afmelden."),
    ],
)
def test_a_marketing_text_must_mention_withdrawal(
    migrated_engine: Engine, language: str, without: str, with_withdrawal: str
) -> None:
    common = {"channel": "email", "purpose": "marketing", "actor": ACTOR, "language": language}
    with Session(migrated_engine) as session:
        with pytest.raises(ConsentError, match="withdrawn at any time"):
            publish_text(session, version="v1", text=without, **common)
        assert list_texts(session) == []
        published = publish_text(session, version="v1", text=with_withdrawal, **common)
        assert published.text == with_withdrawal and published.published_at is not None
        # published texts never change; the same wording again is a no-op
        assert publish_text(session, version="v1", text=with_withdrawal, **common) == published
        with pytest.raises(ConsentError, match="publish a new version"):
            publish_text(session, version="v1", text=with_withdrawal + " !", **common)
        transactional = {**common, "purpose": "transactional"}
        publish_text(session, version="t1", text="Order updates.", **transactional)


def test_the_bundled_texts_say_how_to_withdraw(migrated_engine: Engine) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        texts = {t.language: t.text for t in list_texts(session)}
    assert set(texts) >= {"da", "en", "nl"}
    assert "Du kan til enhver tid trække dit samtykke tilbage" in texts["da"]
    assert "withdraw your consent at any time" in texts["en"]
    assert "toestemming altijd intrekken" in texts["nl"]


def test_only_confirmed_or_soft_opt_in_customers_are_marketable(migrated_engine: Engine) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        add_customer(session, "c-4", email="Dora@Example.dk")
        assert not is_marketable(session, SECRET, "c-4", "email")  # nothing recorded
        pending = start_double_opt_in(
            session,
            customer="c-4",
            text_version=DEFAULT_TEXT_VERSION,
            language="da",
            source="form",
            recorded_by="api:abc",
        )
        assert pending.consent.status == "pending"
        assert not is_marketable(session, SECRET, "c-4", "email")  # unconfirmed: never
        assert confirm_double_opt_in(session, pending.token).status == "granted"
        assert is_marketable(session, SECRET, "c-4", "email")
        assert not is_marketable(session, SECRET, "c-4", "sms")
        suppress(session, SECRET, channel="email", address="dora@example.DK", reason="bounce")
        assert not is_marketable(session, SECRET, "c-4", "email")


def test_confirmation_tokens_are_single_use_expiring_and_stored_hashed(
    migrated_engine: Engine,
) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        add_customer(session, "c-5", email="e@example.dk")
        start = {
            "customer": "c-5",
            "text_version": DEFAULT_TEXT_VERSION,
            "language": "da",
            "source": "form",
            "recorded_by": "api:abc",
        }
        first = start_double_opt_in(session, now=T0, ttl=timedelta(hours=1), **start)
        dumped = repr(session.execute(text("SELECT * FROM consent_confirmations")).all())
        assert first.token not in dumped and len(first.token) >= 43
        with pytest.raises(TokenError) as expired:
            confirm_double_opt_in(session, first.token, now=T0 + timedelta(hours=1))
        assert expired.value.reason == "expired"
        with pytest.raises(TokenError) as unknown:
            confirm_double_opt_in(session, first.token[:-2] + "xx", now=T0)
        assert unknown.value.reason == "unknown"
        assert not is_marketable(session, SECRET, "c-5", "email")
        second = start_double_opt_in(session, now=T0, **start)
        confirmed = confirm_double_opt_in(
            session, second.token, ip_address="192.0.2.9", now=T0 + timedelta(minutes=5)
        )
        assert confirmed.confirmed_at == T0 + timedelta(minutes=5)
        with pytest.raises(TokenError) as used:
            confirm_double_opt_in(session, second.token, now=T0 + timedelta(minutes=6))
        assert used.value.reason == "used"
        confirmations = session.scalars(
            select(ConsentEvent).where(ConsentEvent.is_confirmation.is_(True))
        ).all()
        assert [c.ip_address for c in confirmations] == ["192.0.2.9"]


def pending_opt_in(engine: Engine, customer: str, email: str) -> str:
    """A new customer with a double opt-in started from a form: its confirmation token."""
    with_texts(engine)
    with Session(engine) as session:
        add_customer(session, customer, email=email)
        return start_double_opt_in(
            session,
            customer=customer,
            text_version=DEFAULT_TEXT_VERSION,
            language="da",
            source="form",
            recorded_by="api:abc",
        ).token


def test_concurrent_confirmations_of_one_token_confirm_once(migrated_engine: Engine) -> None:
    token = pending_opt_in(migrated_engine, "c-6", "f@example.dk")
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def confirm() -> None:
        with Session(migrated_engine) as own:
            barrier.wait()
            try:
                confirm_double_opt_in(own, token)
                outcomes.append("confirmed")
            except TokenError as exc:
                outcomes.append(exc.reason)

    run_in_threads(confirm, 6)
    assert sorted(outcomes) == ["confirmed"] + ["used"] * 5
    with Session(migrated_engine) as session:
        confirmations = session.scalar(
            select(func.count()).where(ConsentEvent.is_confirmation.is_(True))
        )
        assert confirmations == 1
        used = session.scalars(select(ConsentConfirmation.used_at)).one()
        assert used is not None


def test_a_consent_withdrawn_before_confirming_stays_withdrawn(migrated_engine: Engine) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        add_customer(session, "c-7", email="g@example.dk")
        pending = start_double_opt_in(
            session,
            customer="c-7",
            text_version=DEFAULT_TEXT_VERSION,
            language="da",
            source="form",
            recorded_by="api:abc",
        )
        withdraw_consent(
            session, customer="c-7", channel="email", purpose="marketing", recorded_by="api:abc"
        )
        assert confirm_double_opt_in(session, pending.token).status == "withdrawn"
        assert not is_marketable(session, SECRET, "c-7", "email")


def test_withdrawal_by_signed_link_needs_no_login_and_is_idempotent(
    migrated_engine: Engine,
) -> None:
    with Session(migrated_engine) as session:
        hans = add_customer(session, "hans@example.dk", email="hans@example.dk")
        add_order(session, hans, "o-8")
        grant(
            session, "hans@example.dk", lawful_basis="soft_opt_in", text_version=None, language=None
        )
        token = withdrawal_token(SIGNER, hans.id, "email", "marketing")
        assert "hans" not in token  # the link names no address
        tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        with pytest.raises(TokenError):
            withdraw_with_token(session, SIGNER, tampered)
        other = Signer({"k1": b"z" * 32}, "k1")
        with pytest.raises(TokenError):
            withdraw_with_token(session, other, token)
        wrong_purpose = SIGNER.sign(
            "preferences", {"c": hans.id, "ch": "email", "p": "marketing"}, timedelta(days=1)
        )
        with pytest.raises(TokenError) as refused:
            withdraw_with_token(session, SIGNER, wrong_purpose)
        assert refused.value.reason == "purpose"
        assert is_marketable(session, SECRET, "hans@example.dk", "email")  # nothing changed
        for _ in range(2):
            state = withdraw_with_token(session, SIGNER, token, ip_address="192.0.2.1")
            assert state.status == "withdrawn"
        assert not is_marketable(session, SECRET, "hans@example.dk", "email")
        withdrawals = session.scalars(
            select(ConsentEvent).where(ConsentEvent.granted.is_(False))
        ).all()
        assert [(w.source, w.recorded_by) for w in withdrawals] == [("link", "customer")]


def test_the_confirmation_message_carries_the_link_and_no_advertising() -> None:
    for language, word in (("da", "Bekræft"), ("en", "confirm"), ("nl", "Bevestig")):
        message = confirmation_message(language, "https://shop.example/c/TOKEN")
        assert word in message.subject + message.body
        assert "https://shop.example/c/TOKEN" in message.body
        assert "%" not in message.body and "tilbud" not in message.body.lower()
    assert confirmation_message("fr-FR", "u").language == "en"


def test_nul_characters_are_named_not_sent_to_the_database(migrated_engine: Engine) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        add_customer(session, "c-9", email="nul@example.dk")
        with pytest.raises(NotFoundError):
            current_consents(session, "c-\x009")
        with pytest.raises(ConsentError, match="user_agent"):
            grant(session, "c-9", user_agent="Mozilla\x00")
        with pytest.raises(ConsentError, match="NUL"):
            publish_text(
                session,
                version="v\x00",
                language="en",
                channel="email",
                purpose="marketing",
                text="Unsubscribe any time.",
                actor=ACTOR,
            )
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0


def test_concurrent_grants_and_withdrawals_keep_the_state_equal_to_the_ledger(
    migrated_engine: Engine,
) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        customer_id = add_customer(session, "c-10", email="h@example.dk").id
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def change(number: int) -> None:
        with Session(migrated_engine) as own:
            barrier.wait()
            try:
                if number % 2:
                    withdraw_consent(
                        own,
                        customer="c-10",
                        channel="email",
                        purpose="marketing",
                        recorded_by=f"t{number}",
                    )
                else:
                    grant(own, "c-10", recorded_by=f"t{number}")
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    run_in_threads(change, 8, numbered=True)
    assert errors == []
    with Session(migrated_engine) as session:
        assert stored_state(session, customer_id) == ledger_state(session, customer_id)
        grants = session.scalar(select(func.count()).where(ConsentEvent.granted.is_(True)))
        assert grants == 4  # every grant recorded; withdrawals only when something was granted


def test_concurrent_withdrawals_record_one_withdrawal(migrated_engine: Engine) -> None:
    with_texts(migrated_engine)
    with Session(migrated_engine) as session:
        add_customer(session, "c-11", email="w@example.dk")
        grant(session, "c-11")
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def withdraw(number: int) -> None:
        with Session(migrated_engine) as own:
            barrier.wait()
            try:
                withdraw_consent(
                    own,
                    customer="c-11",
                    channel="sms",
                    purpose="marketing",
                    recorded_by=f"t{number}",
                )
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    run_in_threads(withdraw, 6, numbered=True)
    assert errors == []
    with Session(migrated_engine) as session:
        withdrawals = session.scalar(select(func.count()).where(ConsentEvent.granted.is_(False)))
        assert withdrawals == 1


def test_a_withdrawal_during_a_confirmation_stays_the_last_word(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The withdrawal is sent the moment the confirmation has read the consent (a grant not
    yet confirmed) and before it writes: it must wait, and win, not be overwritten."""
    from retentio.privacy import optin

    token = pending_opt_in(migrated_engine, "race", "race@example.dk")

    def withdraw() -> None:
        with Session(migrated_engine) as own:
            withdraw_consent(
                own, customer="race", channel="email", purpose="marketing", recorded_by="t"
            )

    withdrawal = threading.Thread(target=withdraw)
    real_append = optin.append_event

    def append_after_a_withdrawal(*args: Any, **kwargs: Any) -> Any:
        withdrawal.start()
        withdrawal.join(timeout=1.0)  # done at once unless the confirmation holds a lock
        return real_append(*args, **kwargs)

    monkeypatch.setattr(optin, "append_event", append_after_a_withdrawal)
    with Session(migrated_engine) as session:
        confirm_double_opt_in(session, token)
    withdrawal.join()
    with Session(migrated_engine) as session:
        email = [c for c in current_consents(session, "race") if c.channel == "email"]
        assert [c.status for c in email] == ["withdrawn"]
        ledger = session.scalars(select(ConsentEvent.granted).order_by(ConsentEvent.id)).all()
        assert ledger[-1] is False  # the withdrawal was recorded last
