"""The SMS adapter against a real HTTP server on loopback: what it sends, and how each answer
of the provider is read (issue 5: "an SMS provider answering 500 / 429")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_helpers import Answer, Receiver, http_receiver
from smtp_helpers import free_port

from retentio.bootstrap import Settings
from retentio.channels import HttpSmsChannel, OutgoingSms, SmsSettings
from retentio.core.errors import ConfigurationError

SMS = OutgoingSms(reference="42.campaign-7", recipient="+4520123456", text="Hej Ida")


@pytest.fixture
def provider() -> Iterator[Receiver]:
    with http_receiver() as receiver:
        yield receiver


def channel(receiver: Receiver, **settings: object) -> HttpSmsChannel:
    return HttpSmsChannel(
        SmsSettings(f"{receiver.url}/v1/messages", **settings)  # type: ignore[arg-type]
    )


def test_a_message_is_posted_as_json_with_its_idempotency_key(provider: Receiver) -> None:
    provider.answer = lambda _r: Answer(201, {"id": "sm_123"})
    with channel(provider, authorization="Bearer sk_test", sender="Butikken") as sms:
        result = sms.send(SMS)
    assert result.status == "sent" and result.provider_id == "sm_123", result
    [request] = provider.received()
    assert request.path == "/v1/messages"
    assert request.json() == {
        "to": "+4520123456",
        "from": "Butikken",
        "text": "Hej Ida",
        "reference": "42.campaign-7",
    }
    assert request.headers["Authorization"] == "Bearer sk_test"
    assert request.headers["Idempotency-Key"] == "42.campaign-7"


def test_without_an_id_in_the_answer_the_reference_is_the_provider_id(
    provider: Receiver,
) -> None:
    provider.answer = lambda _r: Answer(202, None)
    with channel(provider) as sms:
        result = sms.send(SMS)
    assert result.status == "sent" and result.provider_id == "42.campaign-7"
    assert "from" not in provider.received()[0].json()


@pytest.mark.parametrize(
    ("answer", "status", "refused", "wait"),
    [
        (Answer(500, {"error": "internal"}), "transient", False, None),
        (Answer(503, None, {"Retry-After": "30"}), "transient", False, 30.0),
        (Answer(429, {"error": "rate_limited"}, {"Retry-After": "120"}), "transient", False, 120),
        (Answer(429, None, {"Retry-After": "999999"}), "transient", False, 86_400),
        (Answer(401, {"error": "bad key"}), "transient", False, None),
        (Answer(400, {"reason": "invalid_number"}), "permanent", True, None),
        (Answer(422, {"error": {"code": "LANDLINE"}}), "permanent", True, None),
        (Answer(400, {"reason": "text_too_long"}), "rejected", False, None),
        (Answer(302, None, {"Location": "http://127.0.0.1:1/"}), "rejected", False, None),
    ],
)
def test_the_providers_answers_are_classified(
    provider: Receiver, answer: Answer, status: str, refused: bool, wait: float | None
) -> None:
    provider.answer = lambda _r: answer
    with channel(provider) as sms:
        result = sms.send(SMS)
    assert (result.status, result.refused, result.retry_after) == (status, refused, wait)
    assert str(answer.status) in result.detail
    assert len(provider.received()) == 1  # no redirect followed, no retry inside the adapter


def test_a_provider_that_is_down_or_slow_is_transient(provider: Receiver) -> None:
    down = HttpSmsChannel(SmsSettings(f"http://127.0.0.1:{free_port()}/v1/messages"))
    with down:
        result = down.send(SMS)
    assert result.status == "transient" and "cannot reach" in result.detail
    provider.answer = lambda _r: Answer(201, {"id": "late"}, delay=1.0)
    with channel(provider, timeout_seconds=0.2) as slow:
        late = slow.send(SMS)
    assert late.status == "transient" and "in time" in late.detail


def test_the_settings_build_the_channel(
    provider: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="RETENTIO_SMS_URL is not set"):
        Settings(_env_file=None).sms_channel()  # type: ignore[call-arg]
    monkeypatch.setenv("RETENTIO_SMS_URL", f"{provider.url}/send")
    monkeypatch.setenv("RETENTIO_SMS_AUTH", "Basic dXNlcjpwYXNz")
    monkeypatch.setenv("RETENTIO_SMS_FROM", "Butikken")
    provider.answer = lambda _r: Answer(201, {"message_id": 7})
    with Settings(_env_file=None).sms_channel() as sms:  # type: ignore[call-arg]
        result = sms.send(SMS)
    assert result.provider_id == "7"
    [request] = provider.received()
    assert request.path == "/send" and request.headers["Authorization"] == "Basic dXNlcjpwYXNz"
    assert request.json()["from"] == "Butikken"
    with pytest.raises(ConfigurationError, match="RETENTIO_SMS_URL: an http"):
        SmsSettings("ftp://sms.example/")
