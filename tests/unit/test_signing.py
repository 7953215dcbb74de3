"""Signed tokens: purpose-scoped, expiring, key-rotating, tamper-evident."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from retentio.core.clock import FixedClock
from retentio.core.errors import ConfigurationError, RetentioError
from retentio.core.signing import Signer, TokenError, derive_key

OLD, NEW = b"o" * 32, b"n" * 32
DAY = timedelta(days=1)


def signer(clock: FixedClock, current: str = "k2") -> Signer:
    return Signer({"k1": OLD, "k2": NEW}, current, clock=clock)


@pytest.fixture()
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 5, 1, 12, tzinfo=UTC))


def reason(call: object) -> str:
    with pytest.raises(TokenError) as caught:
        call()  # type: ignore[operator]
    assert isinstance(caught.value, RetentioError)
    return caught.value.reason


def test_a_token_round_trips_and_is_url_safe(clock: FixedClock) -> None:
    token = signer(clock).sign("consent.withdraw", {"c": 7, "ch": "email"}, DAY)
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    assert signer(clock).verify("consent.withdraw", token) == {"c": 7, "ch": "email"}


def test_the_signature_is_hmac_sha256_over_version_key_id_and_payload(clock: FixedClock) -> None:
    token = signer(clock).sign("p", {"a": 1}, DAY)
    version, key_id, payload, signature = token.split(".")
    expected = hmac.new(NEW, f"{version}.{key_id}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=") == expected
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert body["p"] == "p" and body["e"] == int((clock.now() + DAY).timestamp())


def test_a_tampered_token_is_refused(clock: FixedClock) -> None:
    s = signer(clock)
    token = s.sign("p", {"c": 7}, DAY)
    version, key_id, payload, signature = token.split(".")
    forged_body = base64.urlsafe_b64encode(
        json.dumps({"p": "p", "e": 9999999999, "d": {"c": 8}}).encode()
    ).rstrip(b"=")
    forged = f"{version}.{key_id}.{forged_body.decode()}.{signature}"
    assert reason(lambda: s.verify("p", forged)) == "signature"
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert reason(lambda: s.verify("p", flipped)) == "signature"
    assert reason(lambda: s.verify("p", token + "x")) == "signature"
    for broken in ("", "v1.k2.abc", "v2." + token[3:], "a.b.c.d.e", "x" * 5000):
        assert reason(lambda b=broken: s.verify("p", b)) == "malformed"  # type: ignore[misc]


def test_purpose_expiry_and_unknown_keys(clock: FixedClock) -> None:
    s = signer(clock)
    token = s.sign("consent.withdraw", {"c": 7}, DAY)
    assert reason(lambda: s.verify("preferences", token)) == "purpose"
    clock.advance(DAY - timedelta(seconds=1))
    assert s.verify("consent.withdraw", token) == {"c": 7}
    clock.advance(timedelta(seconds=1))
    assert reason(lambda: s.verify("consent.withdraw", token)) == "expired"
    stranger = Signer({"k9": NEW}, "k9", clock=clock)
    fresh = stranger.sign("p", {}, DAY)
    assert reason(lambda: s.verify("p", fresh)) == "unknown_key"


def test_keys_rotate(clock: FixedClock) -> None:
    made_with_old = signer(clock, current="k1").sign("p", {"c": 1}, DAY)
    assert made_with_old.split(".")[1] == "k1"
    rotated = signer(clock, current="k2")
    assert rotated.verify("p", made_with_old) == {"c": 1}  # old links keep working
    assert rotated.sign("p", {}, DAY).split(".")[1] == "k2"
    retired = Signer({"k2": NEW}, "k2", clock=clock)
    assert reason(lambda: retired.verify("p", made_with_old)) == "unknown_key"


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="not among"):
        Signer({"k1": OLD}, "k2")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        Signer({"k1": b"short"}, "k1")
    with pytest.raises(ConfigurationError, match="key id"):
        Signer({"k.1": OLD}, "k.1")
    with pytest.raises(ConfigurationError, match="ttl"):
        Signer({"k1": OLD}, "k1").sign("p", {}, timedelta(0))
    assert derive_key(OLD, "signing") != derive_key(OLD, "other")
    assert len(derive_key(OLD, "signing")) == 32
    with pytest.raises(ConfigurationError):
        derive_key(b"short", "signing")


def test_settings_build_the_signer_from_named_keys_or_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from retentio.bootstrap import Settings

    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv("RETENTIO_SECRET_KEY", secret)
    derived = Settings().signer()
    token = derived.sign("p", {"c": 1}, DAY)
    assert token.split(".")[1] == "k0"
    by_hand = Signer({"k0": derive_key(secret.encode(), "signing")}, "k0")
    assert by_hand.verify("p", token) == {"c": 1}
    monkeypatch.setenv(
        "RETENTIO_SIGNING_KEYS", '{"a": "' + "a1" * 16 + '", "b": "' + "b2" * 16 + '"}'
    )
    with pytest.raises(ConfigurationError, match="SIGNING_KEY_ID"):
        Settings().signer()
    monkeypatch.setenv("RETENTIO_SIGNING_KEY_ID", "b")
    rotated = Settings().signer()
    assert rotated.sign("p", {}, DAY).split(".")[1] == "b"
    old = Signer({"a": b"a1" * 16}, "a").sign("p", {"c": 2}, DAY)
    assert rotated.verify("p", old) == {"c": 2}
