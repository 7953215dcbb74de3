"""Address normalisation and the suppression HMAC."""

from __future__ import annotations

import hashlib

import pytest

from retentio.core.errors import DataError
from retentio.privacy import address_hmac, normalise_address, normalise_email, normalise_phone

SECRET = b"k" * 32


@pytest.mark.parametrize(
    ("typed", "normal"),
    [(" Anna@Example.DK ", "anna@example.dk"), ("j.de.vries@Mail.nl", "j.de.vries@mail.nl")],
)
def test_emails_are_trimmed_and_lower_cased(typed: str, normal: str) -> None:
    assert normalise_email(typed) == normal


@pytest.mark.parametrize("bad", ["", "anna", "@example.dk", "anna@localhost", "an na@x.dk"])
def test_bad_emails_are_named(bad: str) -> None:
    with pytest.raises(DataError, match="email"):
        normalise_email(bad)


@pytest.mark.parametrize(
    ("typed", "region", "normal"),
    [
        ("20 12 34 56", "DK", "+4520123456"),
        ("+45 20-12-34-56", None, "+4520123456"),
        ("0045 20123456", "NL", "+4520123456"),
        ("06 12345678", "NL", "+31612345678"),
        ("+31 (0)6 1234 5678", None, "+31612345678"),
    ],
)
def test_phones_become_e164(typed: str, region: str | None, normal: str) -> None:
    assert normalise_phone(typed, region) == normal


def test_bad_phones_are_named() -> None:
    with pytest.raises(DataError, match="country"):
        normalise_phone("20 12 34 56")
    with pytest.raises(DataError, match="phone"):
        normalise_phone("123", "DK")


def test_the_hmac_recognises_an_address_however_it_is_typed() -> None:
    one = address_hmac(SECRET, "email", "Anna@Example.dk")
    assert one == address_hmac(SECRET, "email", "  anna@example.DK")
    assert one != address_hmac(b"x" * 32, "email", "anna@example.dk")  # keyed
    unkeyed = hashlib.sha256(b"email:anna@example.dk").hexdigest()
    assert len(one) == 64 and one != unkeyed  # a plain hash could be reversed by guessing
    sms = address_hmac(SECRET, "sms", "20 12 34 56", "DK")
    assert sms == address_hmac(SECRET, "sms", "+4520123456")
    with pytest.raises(DataError, match="32 bytes"):
        address_hmac(b"short", "email", "anna@example.dk")
    with pytest.raises(DataError, match="channel"):
        normalise_address("fax", "123")
