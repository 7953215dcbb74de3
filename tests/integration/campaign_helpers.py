"""A small shop for the campaign tests: customers with orders and consents, a segment, and a
worker wired to a real SMTP server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from retentio.campaigns import Worker, WorkerOptions, save_campaign
from retentio.channels import SmtpChannel, SmtpSettings
from retentio.core.clock import FixedClock
from retentio.core.signing import Signer, derive_key
from retentio.ingest import ingest_customers, ingest_orders
from retentio.privacy import publish_default_texts, record_consent
from retentio.segments import save_segment
from retentio.store.campaign_tables import Delivery

SECRET = b"campaign-tests-secret-0123456789-abcdefghij"
#: Noon in Copenhagen on a Thursday: outside quiet hours.
NOON = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
PUBLIC_URL = "https://butik.example/retentio"
MAIL_FROM = "Butikken <shop@butik.example>"
SIGNER = Signer({"t1": derive_key(SECRET, "links")}, "t1")


def add_shop(
    engine: Engine,
    customers: list[dict[str, Any]],
    *,
    consented: list[str] | None = None,
    now: datetime = NOON,
) -> None:
    """``customers`` (each gets one order a month before ``now``), e-mail marketing consent
    (soft opt-in) for ``consented`` (default: all), and a segment ``buyers`` of everyone who
    ordered."""
    orders = [
        {
            "external_id": f"O-{c['external_id']}",
            "customer_id": c["external_id"],
            "ordered_at": (now - timedelta(days=30)).isoformat(),
            "currency": "DKK",
            "total": "250.00",
        }
        for c in customers
    ]
    with Session(engine) as session:
        ingest_customers(session, customers, secret=SECRET, actor="test")
        ingest_orders(session, orders, secret=SECRET, actor="test")
        publish_default_texts(session, actor="test")
        names = [c["external_id"] for c in customers] if consented is None else consented
        for name in names:
            record_consent(
                session,
                customer=name,
                channel="email",
                purpose="marketing",
                granted=True,
                source="api",
                recorded_by="test",
                lawful_basis="soft_opt_in",
            )
        save_segment(session, {"name": "buyers", "where": {"order_count": {"gte": 1}}})


def campaign(name: str = "winback", **changes: Any) -> dict[str, Any]:
    """A campaign definition for the segment ``buyers``."""
    definition: dict[str, Any] = {
        "name": name,
        "segment": "buyers",
        "holdout": 0,
        "message": {
            "default_locale": "en",
            "en": {
                "subject": "We miss you, {{ first_name | default('there') }}",
                "html": "<p>Hi {{ first_name | default('there') }}, "
                "{{ order_count }} order(s) so far.</p>",
                "text": "Hi {{ first_name | default('there') }}, {{ order_count }} order(s).",
            },
            "da": {
                "subject": "Vi savner dig, {{ first_name | default('du') }}",
                "text": "Hej {{ first_name | default('du') }}. Kode: {{ offer_code }}",
            },
        },
        "offer_code": "KOM-TILBAGE",
    }
    return definition | changes


def save(engine: Engine, definition: dict[str, Any]) -> None:
    with Session(engine) as session:
        save_campaign(session, definition)


def make_worker(
    engine: Engine, port: int, clock: FixedClock, **options: Any
) -> tuple[Worker, SmtpChannel]:
    """A worker sending e-mail to the SMTP server on ``port``, on ``clock``."""
    channel = SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}", timeout=5))
    worker = Worker(
        sessionmaker(engine),
        {"email": channel},
        secret=SECRET,
        signer=SIGNER,
        mail_from=MAIL_FROM,
        public_url=PUBLIC_URL,
        options=WorkerOptions(**({"poll_seconds": 0.01} | options)),
        clock=clock,
    )
    return worker, channel


def deliveries(engine: Engine) -> dict[str, tuple[str, str | None]]:
    """Each delivery's (status, detail) by the customer's external id."""
    from retentio.store.tables import Customer

    query = select(Customer.external_id, Delivery.status, Delivery.detail).join(
        Customer, Customer.id == Delivery.customer_id
    )
    with Session(engine) as session:
        return {name: (status, detail) for name, status, detail in session.execute(query)}
