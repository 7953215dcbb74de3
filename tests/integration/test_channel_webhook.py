"""Outgoing webhooks against a real HTTPS server on loopback (a test CA from trustme): signed
as Standard Webhooks says, sent to the checked address only, no redirect followed."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import trustme
from http_helpers import Answer, Receiver, https_receiver, loopback_webhooks

from retentio.bootstrap import Settings
from retentio.channels import OutgoingWebhook, WebhookChannel, decode_secret, verify
from retentio.core.errors import ConfigurationError

HOST = "hooks.shop.test"
KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def receiver(ca: trustme.CA) -> Iterator[Receiver]:
    with https_receiver(ca, HOST) as found:
        yield found


def channel(ca: trustme.CA, **options: object) -> WebhookChannel:
    return loopback_webhooks(KEY, ca, HOST, **options)


def hook(url: str, webhook_id: str = "msg_42.campaign-7") -> OutgoingWebhook:
    return OutgoingWebhook(webhook_id, url, {"type": "retentio.message", "data": {"n": 1}})


def test_a_webhook_is_signed_and_verifies(ca: trustme.CA, receiver: Receiver) -> None:
    with channel(ca) as webhooks:
        first = webhooks.send(hook(f"{receiver.url}/retentio?shop=1"))
        again = webhooks.send(hook(f"{receiver.url}/retentio?shop=1"))
    assert first.status == again.status == "sent", first
    one, two = receiver.received()
    assert one.path == "/retentio?shop=1"
    assert one.headers["Host"] == f"{HOST}:{receiver.url.rsplit(':', 1)[1]}"
    assert one.json() == {"type": "retentio.message", "data": {"n": 1}}
    assert verify(KEY, one.headers, one.body)
    assert one.headers["webhook-id"] == two.headers["webhook-id"] == "msg_42.campaign-7"
    assert not verify(KEY, one.headers, one.body + b" ")  # a changed body fails
    assert not verify(bytes(32), one.headers, one.body)  # so does another key
    stale = int(one.headers["webhook-timestamp"]) + 301
    assert not verify(KEY, one.headers, one.body, now=stale)


def test_the_certificate_is_checked_against_the_host_name(
    ca: trustme.CA, receiver: Receiver
) -> None:
    other = trustme.CA()
    with channel(other) as untrusting:
        result = untrusting.send(hook(f"{receiver.url}/"))
    assert result.status == "transient" and "certificate" in result.detail.lower(), result
    assert receiver.received() == []


def test_loopback_and_private_targets_are_refused_unless_allowed(
    ca: trustme.CA, receiver: Receiver
) -> None:
    with channel(ca, allowed=()) as guarded:
        refused = guarded.send(hook(f"{receiver.url}/"))
    assert refused.status == "rejected" and "loopback" in refused.detail, refused
    with channel(ca, resolver=lambda _h, _p: ["169.254.169.254"]) as metadata:
        cloud = metadata.send(hook("https://metadata.example/latest/"))
    assert cloud.status == "rejected" and "link-local" in cloud.detail
    with channel(ca) as plain:
        http = plain.send(hook(receiver.url.replace("https://", "http://")))
    assert http.status == "rejected" and "https only" in http.detail
    assert receiver.received() == []


def test_a_redirect_is_not_followed(ca: trustme.CA, receiver: Receiver) -> None:
    receiver.answer = lambda _r: Answer(307, None, {"Location": "https://127.0.0.1:1/inside"})
    with channel(ca) as webhooks:
        result = webhooks.send(hook(f"{receiver.url}/"))
    assert result.status == "rejected" and "307" in result.detail
    assert len(receiver.received()) == 1


def test_the_receivers_answers_are_classified(ca: trustme.CA, receiver: Receiver) -> None:
    answers = iter([Answer(500), Answer(429, None, {"Retry-After": "60"}), Answer(410)])
    receiver.answer = lambda _r: next(answers)
    with channel(ca) as webhooks:
        results = [webhooks.send(hook(f"{receiver.url}/")) for _ in range(3)]
    assert [r.status for r in results] == ["transient", "transient", "rejected"]
    assert results[1].retry_after == 60


def test_the_secret_and_networks_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert decode_secret(SECRET) == KEY
    for bad, message in [
        ("abc", "whsec_"),
        ("whsec_!!", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 random bytes"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            decode_secret(bad)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="RETENTIO_WEBHOOK_SECRET is not set"):
        settings.webhook_channel()
    monkeypatch.setenv("RETENTIO_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("RETENTIO_WEBHOOK_ALLOW_NETWORKS", "10.20.0.0/16, nope")
    with pytest.raises(ConfigurationError, match="ALLOW_NETWORKS.*'nope'"):
        Settings(_env_file=None).webhook_channel()  # type: ignore[call-arg]
    monkeypatch.setenv("RETENTIO_WEBHOOK_ALLOW_NETWORKS", "10.20.0.0/16")
    configured = Settings(_env_file=None)  # type: ignore[call-arg]
    assert configured.sending_channels() == ("webhook",)
    configured.webhook_channel().close()
