"""The payment adapter against a real HTTP receiver on loopback, on SQLite and PostgreSQL: each
order waiting for payment is asked for once per attempt (a signed Standard Webhooks call), the
dunning retries asked for again, a refusing receiver asked again next round."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from campaign_helpers import SECRET
from http_helpers import Answer, Receiver, Request, https_receiver, loopback_webhooks
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from retentio.bootstrap import Settings
from retentio.channels import WebhookChannel, verify
from retentio.cli import app
from retentio.core.errors import ConfigurationError
from retentio.ingest import ingest_customers
from retentio.store import make_engine
from retentio.store.subscription_tables import SubscriptionEvent, SubscriptionOrder
from retentio.subscriptions import (
    Cadence,
    Policy,
    cancel_subscription,
    create_subscription,
    record_payment,
)
from retentio.subscriptions.charging import (
    CHARGE_REQUESTED,
    ChargeRun,
    WebhookPaymentAdapter,
    request_charges,
)
from retentio.subscriptions.jobs import run_subscription_jobs

HOST = "pay.shop.test"
KEY = bytes(range(32))
T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)
ITEMS = [{"product": "COFFEE-1KG", "quantity": 2, "price": "120.00"}]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture()
def receiver(ca: trustme.CA) -> Iterator[Receiver]:
    with https_receiver(ca, HOST) as found:
        yield found


@pytest.fixture()
def adapter(ca: trustme.CA, receiver: Receiver) -> Iterator[WebhookPaymentAdapter]:
    with loopback_webhooks(KEY, ca, HOST) as channel:
        yield WebhookPaymentAdapter(channel, f"{receiver.url}/retentio/charge")


def invoke(*args: str) -> Result:
    """A `retentio` command's result."""
    return CliRunner().invoke(app, list(args))


def one_line(result: Result) -> str:
    """The output on one line (the console wraps)."""
    return " ".join(result.output.split())


def subscribe(engine: Engine, customers: int = 1) -> list[int]:
    """Monthly subscriptions of new customers, their first order due at T0: their ids."""
    with Session(engine) as session:
        people = [{"external_id": f"c{n}"} for n in range(customers)]
        ingest_customers(session, people, secret=SECRET, actor="test")
        return [
            int(
                create_subscription(
                    session, Policy(), customer=f"c{n}", items=ITEMS, cadence=Cadence("month", 1),
                    currency="DKK", first_order_on=T0.date(), now=T0 - timedelta(days=3),
                    actor="test",
                ).body["id"]
            )
            for n in range(customers)
        ]  # fmt: skip


def order_of(engine: Engine, subscription_id: int) -> int:
    with Session(engine) as session:
        return int(
            session.scalars(
                select(SubscriptionOrder.id).where(
                    SubscriptionOrder.subscription_id == subscription_id
                )
            ).one()
        )


def charged(receiver: Receiver) -> list[tuple[str, int, int]]:
    """The webhook ids, orders and attempts the receiver was asked to charge."""
    found = []
    for request in receiver.received():
        body = request.json()
        assert body["type"] == CHARGE_REQUESTED
        found.append(
            (request.headers["webhook-id"], body["data"]["order"]["id"], body["data"]["attempt"])
        )
    return found


def test_each_attempt_is_asked_for_once(
    migrated_engine: Engine, receiver: Receiver, adapter: WebhookPaymentAdapter
) -> None:
    (sub,) = subscribe(migrated_engine)
    at = T0 + timedelta(hours=12)
    with Session(migrated_engine) as session:
        first = run_subscription_jobs(session, now=at, adapter=adapter)
        again = run_subscription_jobs(session, now=at + timedelta(minutes=15), adapter=adapter)
    assert first.renewals.orders == 1 and first.charges is not None
    assert first.charges.requested == 1 and again.charges is not None
    assert again.charges.requested == 0  # asked for already
    (request,) = receiver.received()
    assert request.path == "/retentio/charge" and verify(KEY, request.headers, request.body)
    data = request.json()["data"]
    order = data["order"]["id"]
    assert request.headers["webhook-id"] == f"charge:{order}:1"
    assert data["customer"] == "c0" and data["attempt"] == 1
    assert data["order"]["amount_minor"] == 24_000 and data["order"]["currency"] == "DKK"
    assert data["order"]["items"][0]["product"] == "COFFEE-1KG"
    assert data["order"]["subscription"] == sub and data["order"]["due_on"] == "2027-03-01"

    with Session(migrated_engine) as session:  # the provider says it failed: a retry a day on
        record_payment(session, Policy(), order, outcome="failed", key="psp-1", now=at, actor="psp")
        waiting = run_subscription_jobs(session, now=at + timedelta(hours=1), adapter=adapter)
        retry = run_subscription_jobs(session, now=at + timedelta(days=1, hours=1), adapter=adapter)
    assert waiting.charges is not None and waiting.charges.requested == 0
    assert retry.retries == 1 and retry.charges is not None and retry.charges.requested == 1
    assert charged(receiver) == [(f"charge:{order}:1", order, 1), (f"charge:{order}:2", order, 2)]

    with Session(migrated_engine) as session:
        record_payment(session, Policy(), order, outcome="succeeded", key="psp-2", now=at,
                       actor="psp")  # fmt: skip
        paid = run_subscription_jobs(session, now=at + timedelta(days=2), adapter=adapter)
        history = session.scalars(
            select(SubscriptionEvent.key).where(SubscriptionEvent.kind == "charge_requested")
        ).all()
    assert paid.charges is not None and paid.charges.requested == 0
    assert len(receiver.received()) == 2
    assert sorted(str(key) for key in history) == [f"charge:{order}:1", f"charge:{order}:2"]


def test_a_refusing_receiver_is_asked_again_next_round(
    migrated_engine: Engine, receiver: Receiver, adapter: WebhookPaymentAdapter
) -> None:
    subscribe(migrated_engine, customers=12)
    receiver.answer = lambda _request: Answer(503, {"error": "down for maintenance"})
    at = T0 + timedelta(hours=12)
    with Session(migrated_engine) as session:
        down = run_subscription_jobs(session, now=at, adapter=adapter)
    assert down.renewals.orders == 12 and down.charges is not None
    # five failures in a row end the round (after the requests in flight): the receiver is down
    assert (down.charges.requested, down.charges.failed, down.charges.unfinished) == (0, 8, True)
    assert "503" in down.charges.last_error
    assert len(receiver.received()) == 8

    def refuse_first(request: Request) -> Answer:
        return Answer(500) if request.json()["data"]["order"]["id"] == first else Answer(202)

    first = charged(receiver)[0][1]
    receiver.answer = refuse_first
    with Session(migrated_engine) as session:
        back = run_subscription_jobs(session, now=at + timedelta(minutes=15), adapter=adapter)
        last = run_subscription_jobs(session, now=at + timedelta(minutes=30), adapter=adapter)
    assert back.charges is not None and (back.charges.requested, back.charges.failed) == (11, 1)
    assert last.charges is not None and (last.charges.requested, last.charges.failed) == (0, 1)
    ids = [webhook_id for webhook_id, _order, _attempt in charged(receiver)]
    assert ids.count(f"charge:{first}:1") == 3  # the same id each time: a receiver drops repeats
    assert len(set(ids)) == 12


def test_an_order_refused_alone_does_not_stop_the_round(
    migrated_engine: Engine, receiver: Receiver, adapter: WebhookPaymentAdapter
) -> None:
    subs = subscribe(migrated_engine, customers=8)
    receiver.answer = lambda _request: Answer(422, {"error": "no payment method"})
    with Session(migrated_engine) as session:  # a cancelled subscription's order is not sent
        cancel_subscription(
            session, Policy(), subs[0], reason="other", confirm=True, key=None,
            now=T0 + timedelta(hours=11), actor="test",
        )  # fmt: skip
        run = run_subscription_jobs(session, now=T0 + timedelta(hours=12), adapter=adapter)
    assert run.renewals.orders == 7 and run.charges is not None
    assert (run.charges.failed, run.charges.unfinished) == (7, False)
    assert "422" in run.charges.last_error


def test_each_attempt_goes_once_with_two_rounds_at_once(
    migrated_engine: Engine, receiver: Receiver, adapter: WebhookPaymentAdapter
) -> None:
    subscribe(migrated_engine, customers=10)
    at = T0 + timedelta(hours=12)
    with Session(migrated_engine) as session:
        run_subscription_jobs(session, now=at - timedelta(hours=1))  # the orders, not sent
    receiver.answer = lambda _request: Answer(200, {}, delay=0.05)
    gate = threading.Barrier(2)

    def round_() -> ChargeRun:
        with Session(migrated_engine) as session:
            gate.wait()
            return request_charges(session, adapter, now=at)

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _n: round_(), range(2)))
    assert sum(r.requested for r in runs) == 10 and not any(r.failed for r in runs)
    ids = [webhook_id for webhook_id, _order, _attempt in charged(receiver)]
    assert len(ids) == len(set(ids)) == 10


def test_a_claim_left_by_a_stopped_process_is_taken_over(
    migrated_engine: Engine, receiver: Receiver, adapter: WebhookPaymentAdapter
) -> None:
    old, new = subscribe(migrated_engine, customers=2)
    at = T0 + timedelta(hours=12)
    with Session(migrated_engine) as session:
        run_subscription_jobs(session, now=at)  # the orders, not sent
        for sub, claimed in ((old, at - timedelta(minutes=11)), (new, at - timedelta(minutes=2))):
            order = session.scalars(
                select(SubscriptionOrder).where(SubscriptionOrder.subscription_id == sub)
            ).one()
            session.add(  # a claim of a process that stopped before it sent
                SubscriptionEvent(
                    subscription_id=sub, kind="charge_sending", key=f"charge:{order.id}:1",
                    data={"order": order.id, "attempt": 1}, occurred_at=claimed,
                    actor="retentio",
                )
            )  # fmt: skip
        session.commit()
        run = request_charges(session, adapter, now=at)
        e = SubscriptionEvent
        claims = select(e.subscription_id, e.kind).where(e.key.like("charge:%"))
        kinds = {sub: kind for sub, kind in session.execute(claims)}
    assert run.requested == 1  # the stale claim; the other is still another process's
    assert [order for _id, order, _attempt in charged(receiver)] == [order_of(migrated_engine, old)]
    assert kinds == {old: "charge_requested", new: "charge_sending"}


def test_the_adapter_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETENTIO_PAYMENT_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("RETENTIO_WEBHOOK_SECRET", raising=False)
    assert Settings(_env_file=None).payment_adapter() is None  # type: ignore[call-arg]
    url = "https://butik.example/retentio/charge"
    monkeypatch.setenv("RETENTIO_PAYMENT_WEBHOOK_URL", url)
    with pytest.raises(ConfigurationError, match="RETENTIO_WEBHOOK_SECRET is not set"):
        Settings(_env_file=None).payment_adapter()  # type: ignore[call-arg]
    monkeypatch.setenv("RETENTIO_WEBHOOK_SECRET", "whsec_" + base64.b64encode(KEY).decode())
    assert isinstance(Settings(_env_file=None).payment_adapter(), WebhookPaymentAdapter)  # type: ignore[call-arg]
    monkeypatch.setenv("RETENTIO_PAYMENT_WEBHOOK_URL", "http://butik.example/charge")
    with pytest.raises(
        ConfigurationError, match="RETENTIO_PAYMENT_WEBHOOK_URL: https only, not http:$"
    ):
        Settings(_env_file=None).payment_adapter()  # type: ignore[call-arg]


def test_an_internal_address_is_refused_by_name(migrated_engine: Engine) -> None:
    subscribe(migrated_engine)
    with WebhookChannel(KEY) as channel, Session(migrated_engine) as session:
        inside = WebhookPaymentAdapter(channel, "https://127.0.0.1:9/charge")
        run = run_subscription_jobs(session, now=T0 + timedelta(hours=12), adapter=inside)
    assert run.charges is not None and (run.charges.requested, run.charges.failed) == (0, 1)
    assert "127.0.0.1" in run.charges.last_error


def test_renew_asks_the_payment_webhook_to_charge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("RETENTIO_SECRET_KEY", "k7Qz2VfN8pLx3RmT6wYb9HcJ4dGs1AeU5nKo0iPq")
    monkeypatch.setenv("RETENTIO_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    assert invoke("init").exit_code == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    subscribe(engine)
    engine.dispose()
    monkeypatch.setenv("RETENTIO_PAYMENT_WEBHOOK_URL", "http://butik.example/charge")
    plain = invoke("subscriptions", "renew", "--at", "2027-03-01T12:00:00+00:00")
    assert isinstance(plain.exception, ConfigurationError)
    assert "RETENTIO_PAYMENT_WEBHOOK_URL: https only" in str(plain.exception)

    ca = trustme.CA()  # a real HTTPS receiver on loopback, its CA trusted through SSL_CERT_FILE
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("RETENTIO_WEBHOOK_SECRET", "whsec_" + base64.b64encode(KEY).decode())
    monkeypatch.setenv("RETENTIO_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
    with https_receiver(ca, "127.0.0.1") as receiver:
        monkeypatch.setenv("RETENTIO_PAYMENT_WEBHOOK_URL", f"{receiver.url}/charge")
        run = invoke("subscriptions", "renew", "--at", "2027-03-01T12:00:00+00:00")
        again = invoke("subscriptions", "renew", "--at", "2027-03-01T13:00:00+00:00", "--json")
        received = receiver.received()
    assert run.exit_code == 0, run.output
    assert "Made 1 renewal order(s) (240.00 DKK)" in one_line(run)
    assert "Asked the payment provider to charge 1 order(s)" in one_line(run)
    assert json.loads(again.output)["charges"] == {
        "requested": 0, "failed": 0, "last_error": "", "unfinished": False
    }  # fmt: skip
    (request,) = received
    assert verify(KEY, request.headers, request.body)
    assert request.json()["data"]["order"]["amount_minor"] == 24_000
