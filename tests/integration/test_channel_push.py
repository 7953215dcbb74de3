"""Push end to end: a browser's Web Push subscription registered over the API, a campaign sent
through a real HTTPS push service on loopback (the message decrypted with the browser's keys,
the VAPID signature verified), a gone subscription revoked; and a mobile push gateway."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import http_ece  # type: ignore[import-untyped]
import pytest
import trustme
from api_helpers import bearer, problem
from campaign_helpers import NOON, SECRET, campaign, deliveries
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from http_helpers import Answer, Receiver, http_receiver
from py_vapid import Vapid02  # type: ignore[import-untyped]
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from test_campaign_channels import add_customers, launch, worker

from retentio.api import ApiConfig, create_app
from retentio.campaigns.push_subscriptions import mark_devices
from retentio.channels import (
    GatewaySender,
    OutgoingPush,
    PushChannel,
    PushTarget,
    VapidKey,
    WebPushSender,
    generate_vapid_key,
)
from retentio.core.clock import FixedClock
from retentio.core.errors import ConfigurationError
from retentio.store.channel_tables import PushSubscription

PUSH_HOST = "push.browser.test"
MESSAGE = {
    "default_locale": "en",
    "en": {"subject": "A gift for you", "text": "Use {{ offer_code }} today"},
    "da": {"subject": "En gave til dig, {{ first_name }}", "text": "Brug {{ offer_code }}"},
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Browser:
    """What a browser holds for one subscription: its ECDH key and auth secret."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def keys(self) -> dict[str, str]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}

    def read(self, body: bytes) -> dict[str, object]:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        result: dict[str, object] = json.loads(plain)
        return result


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def push_service(ca: trustme.CA) -> Iterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(PUSH_HOST).configure_cert(context)
    with http_receiver(context, host=PUSH_HOST) as receiver:
        receiver.answer = lambda _r: Answer(201)
        yield receiver


@pytest.fixture
def vapid(tmp_path: Path) -> VapidKey:
    pem, _public = generate_vapid_key()
    path = tmp_path / "vapid.pem"
    path.write_bytes(pem)
    return VapidKey.load(path, "mailto:ops@butik.example")


def web_sender(ca: trustme.CA, vapid: VapidKey) -> WebPushSender:
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return WebPushSender(
        vapid,
        allowed=(ipaddress.ip_network("127.0.0.0/8"),),
        resolver=lambda host, _port: ["127.0.0.1"] if host == PUSH_HOST else [host],
        verify_tls=client,
    )


@pytest.fixture
def api(api_config: ApiConfig, vapid: VapidKey) -> Iterator[TestClient]:
    config = replace(api_config, secret=SECRET, vapid_public_key=vapid.public_key)
    with TestClient(create_app(config), raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_push_campaign_reaches_each_registered_browser_encrypted_and_signed(
    migrated_engine: Engine,
    api: TestClient,
    api_keys: dict[str, str],
    push_service: Receiver,
    ca: trustme.CA,
    vapid: VapidKey,
) -> None:
    add_customers(migrated_engine, "push", ["ida", "bob", "eva"])
    write = bearer(api_keys["write"])
    key = api.get("/api/v1/push/vapid-public-key")  # public: the shop's pages need it
    assert key.status_code == 200 and key.json() == {"public_key": vapid.public_key}
    browsers = {name: Browser() for name in ("ida", "ida-phone", "bob")}
    for name, browser in browsers.items():
        customer = name.split("-")[0]
        registered = api.post(
            f"/api/v1/customers/{customer}/push-subscriptions",
            json={"endpoint": f"{push_service.url}/wpush/{name}", "keys": browser.keys()},
            headers=write,
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["kind"] == "web"
    launch(
        migrated_engine,
        campaign("push-gift", channel="push", message=MESSAGE, link="https://butik.example/g"),
    )
    sent_to: list[int] = []

    def on_sent(ids: object) -> None:
        sent_to.extend(ids)  # type: ignore[call-overload]
        mark_devices(migrated_engine, ids, now=NOON, gone=False)  # type: ignore[arg-type]

    channel = PushChannel(web=web_sender(ca, vapid), on_sent=on_sent)
    with worker(migrated_engine, {"push": channel}, FixedClock(NOON)) as w:
        assert w.run(until_idle=True).to_dict() == {"sent": 2, "skipped": 3}
    found = deliveries(migrated_engine)
    assert found["eva"] == ("skipped", "no usable push address")  # consented, no device
    assert found["ida"][0] == "sent"
    requests = {r.path.rsplit("/", 1)[1]: r for r in push_service.received()}
    assert sorted(requests) == ["bob", "ida", "ida-phone"]
    shown = {name: browsers[name].read(r.body) for name, r in requests.items()}
    assert shown["ida"] == shown["ida-phone"]
    assert shown["ida"]["title"] == "En gave til dig, Ida"
    assert shown["ida"]["body"] == "Brug KOM-TILBAGE"
    assert shown["bob"] == {
        "title": "A gift for you",
        "body": "Use KOM-TILBAGE today",
        "url": "https://butik.example/g",
        "tag": shown["bob"]["tag"],
    }
    request = requests["bob"]
    assert request.headers["Content-Encoding"] == "aes128gcm"
    assert int(request.headers["TTL"]) > 0
    authorization = request.headers["Authorization"]
    assert Vapid02.verify(authorization)  # signed by the key in the header ...
    assert authorization.split("k=")[1] == vapid.public_key  # ... which is the shop's
    token = authorization.split("t=")[1].split(",")[0]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["aud"] == push_service.url and claims["sub"] == "mailto:ops@butik.example"
    assert len(sent_to) == 3
    with Session(migrated_engine) as session:
        stamps = session.scalars(select(PushSubscription.last_sent_at)).all()
    assert all(stamp is not None for stamp in stamps)


def test_a_gone_subscription_is_revoked_and_every_device_gone_bounces(
    migrated_engine: Engine,
    api: TestClient,
    api_keys: dict[str, str],
    push_service: Receiver,
    ca: trustme.CA,
    vapid: VapidKey,
) -> None:
    add_customers(migrated_engine, "push", ["ida", "bob"])
    write = bearer(api_keys["write"])
    for name in ("ida", "ida-old", "bob"):
        api.post(
            f"/api/v1/customers/{name.split('-')[0]}/push-subscriptions",
            json={"endpoint": f"{push_service.url}/wpush/{name}", "keys": Browser().keys()},
            headers=write,
        )
    gone = {"ida-old", "bob"}
    push_service.answer = lambda r: Answer(410 if r.path.rsplit("/", 1)[1] in gone else 201)

    def channel() -> PushChannel:
        return PushChannel(
            web=web_sender(ca, vapid),
            on_gone=lambda ids: mark_devices(migrated_engine, ids, now=NOON, gone=True),
        )

    launch(migrated_engine, campaign("push-1", channel="push", message=MESSAGE))
    with worker(migrated_engine, {"push": channel()}, FixedClock(NOON)) as w:
        w.run(until_idle=True)
    found = deliveries(migrated_engine)
    assert found["ida"] == ("sent", "to 1 of 2 devices")
    assert found["bob"][0] == "bounced" and "every device is gone" in str(found["bob"][1])
    with Session(migrated_engine) as session:
        revoked = session.scalars(
            select(PushSubscription.endpoint).where(PushSubscription.revoked_at.is_not(None))
        ).all()
    assert sorted(e.rsplit("/", 1)[1] for e in revoked) == ["bob", "ida-old"]
    # A revoked device is not tried again; registering it anew (the browser subscribed
    # again) brings it back.
    launch(migrated_engine, campaign("push-2", channel="push", message=MESSAGE))
    before = len(push_service.received())
    with worker(migrated_engine, {"push": channel()}, FixedClock(NOON), caps=()) as w:
        w.run(until_idle=True)
    assert len(push_service.received()) == before + 1  # ida's live device only
    assert deliveries(migrated_engine)["bob"] == ("skipped", "no usable push address")
    again = api.post(
        "/api/v1/customers/bob/push-subscriptions",
        json={"endpoint": f"{push_service.url}/wpush/bob", "keys": Browser().keys()},
        headers=write,
    )
    assert again.json()["revoked_at"] is None


def test_a_push_service_that_fails_is_tried_again(
    migrated_engine: Engine,
    api: TestClient,
    api_keys: dict[str, str],
    push_service: Receiver,
    ca: trustme.CA,
    vapid: VapidKey,
) -> None:
    add_customers(migrated_engine, "push", ["ida"])
    api.post(
        "/api/v1/customers/ida/push-subscriptions",
        json={"endpoint": f"{push_service.url}/wpush/ida", "keys": Browser().keys()},
        headers=bearer(api_keys["write"]),
    )
    answers = iter([Answer(503, None, {"Retry-After": "600"}), Answer(201)])
    push_service.answer = lambda _r: next(answers)
    launch(migrated_engine, campaign("push-retry", channel="push", message=MESSAGE))
    clock = FixedClock(NOON)
    channel = PushChannel(web=web_sender(ca, vapid))
    with worker(migrated_engine, {"push": channel}, clock) as w:
        assert w.run_once().counts["retry"] == 1
        clock.advance(timedelta(seconds=599))
        assert w.run_once().claimed == 0  # the push service's Retry-After
        clock.advance(timedelta(seconds=2))
        assert w.run_once().to_dict() == {"sent": 1}


def test_bad_registrations_are_refused_by_field(
    migrated_engine: Engine, api: TestClient, api_keys: dict[str, str]
) -> None:
    add_customers(migrated_engine, "push", [])
    write = bearer(api_keys["write"])
    keys = Browser().keys()

    def register(body: dict[str, object], customer: str = "ida") -> object:
        return api.post(
            f"/api/v1/customers/{customer}/push-subscriptions", json=body, headers=write
        )

    inside = register({"endpoint": "https://169.254.169.254/x", "keys": keys})
    assert "endpoint" in problem(inside, 422, "invalid-data")["detail"]
    plain = register({"endpoint": "http://push.example/x", "keys": keys})
    assert "https only" in problem(plain, 422, "invalid-data")["detail"]
    short = register({"endpoint": "https://push.example/x", "keys": {**keys, "auth": "x"}})
    assert "keys.auth" in problem(short, 422, "invalid-data")["detail"]
    no_platform = register({"kind": "gateway", "token": "abc"})
    assert "platform" in problem(no_platform, 422, "invalid-data")["detail"]
    problem(register({"endpoint": "https://p.example/x", "keys": keys}, "nobody"), 404, "not-found")
    revoked = api.post(
        "/api/v1/customers/ida/push-subscriptions/revoke",
        json={"endpoint": "https://never.example/x"},
        headers=write,
    )
    assert revoked.json() == {"revoked": False}


def test_a_mobile_push_gateway_gets_each_device_token(
    migrated_engine: Engine, api: TestClient, api_keys: dict[str, str]
) -> None:
    add_customers(migrated_engine, "push", ["ida", "bob"])
    write = bearer(api_keys["write"])
    for customer, token, platform in [("ida", "tok-ida", "ios"), ("bob", "tok-bob", "android")]:
        made = api.post(
            f"/api/v1/customers/{customer}/push-subscriptions",
            json={"kind": "gateway", "token": token, "platform": platform},
            headers=write,
        )
        assert made.status_code == 201, made.text
    with http_receiver() as gateway:
        gateway.answer = lambda r: (
            Answer(404, {"reason": "unregistered"})
            if r.json()["to"] == "tok-bob"
            else Answer(200, {"id": "g1"})
        )
        gone: list[int] = []
        channel = PushChannel(
            gateway=GatewaySender(f"{gateway.url}/send", authorization="Bearer gw"),
            on_gone=gone.extend,
        )
        launch(migrated_engine, campaign("app-push", channel="push", message=MESSAGE))
        with worker(migrated_engine, {"push": channel}, FixedClock(NOON)) as w:
            w.run(until_idle=True)
        bodies = {r.json()["to"]: r for r in gateway.received()}
    ida = bodies["tok-ida"]
    assert ida.json()["platform"] == "ios" and ida.json()["title"] == "En gave til dig, Ida"
    assert ida.headers["Authorization"] == "Bearer gw" and ida.headers["Idempotency-Key"]
    assert len(gone) == 1
    assert deliveries(migrated_engine)["bob"][0] == "bounced"


def test_the_vapid_key_and_the_channel_are_checked_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigurationError, match="RETENTIO_VAPID_PRIVATE_KEY_FILE: not a P-256"):
        VapidKey.load(bad, "mailto:ops@butik.example")
    with pytest.raises(ConfigurationError, match="RETENTIO_VAPID_PRIVATE_KEY_FILE"):
        VapidKey.load(tmp_path / "missing.pem", "mailto:ops@butik.example")
    pem, public = generate_vapid_key()
    good = tmp_path / "good.pem"
    good.write_bytes(pem)
    with pytest.raises(ConfigurationError, match="RETENTIO_VAPID_SUBJECT"):
        VapidKey.load(good, "ops@butik.example")
    assert VapidKey.load(good, "https://butik.example").public_key == public
    assert len(base64.urlsafe_b64decode(public + "=")) == 65  # an uncompressed P-256 point
    with pytest.raises(ConfigurationError, match="RETENTIO_PUSH_GATEWAY_URL"):
        PushChannel()
    message = OutgoingPush("r", "t", "x", None, (PushTarget(1, "web", "https://p.example/"),))
    nobody = PushChannel(gateway=GatewaySender("https://gw.example/"))
    assert nobody.send(message).status == "rejected"  # a web device and no VAPID key
