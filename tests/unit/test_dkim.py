"""DKIM signing (RFC 6376): checked by dkimpy, an independent verifier, against the TXT record
a receiver would find in DNS; relaxed canonicalization; keys that cannot sign stop start-up."""

from __future__ import annotations

import base64
import email
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from retentio.channels.dkim_signing import DkimKey, load_dkim_key
from retentio.core.errors import ConfigurationError

Dns = Callable[..., bytes | None]


def make_key(bits: int = 2048) -> tuple[bytes, Dns]:
    """A new RSA key in PEM, and the DNS lookup that finds its public key as mail._domainkey
    of butik.example."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        return record if name == b"mail._domainkey.butik.example." else None

    return pem, txt


@pytest.fixture(scope="module")
def key() -> tuple[DkimKey, Dns]:
    pem, txt = make_key()
    return DkimKey("mail", "butik.example", pem), txt


MESSAGE = (
    b"From: Butikken <shop@butik.example>\r\n"
    b"To: ida@example.com\r\n"
    b"Subject: =?utf-8?q?Vi_savner_dig_=E2=80=93_10_=25_rabat_p=C3=A5_=C3=A6bler_og_?=\r\n"
    b" =?utf-8?q?p=C3=A6rer?=\r\n"
    b"Message-ID: <delivery-1@butik.example>\r\n"
    b"Date: Fri, 01 May 2026 12:00:00 +0000\r\n"
    b"X-Campaign: winback\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Hej Ida\r\n"
    b"\r\n"
    b"Afmeld: https://butik.example/u/TOKEN\r\n"
)


@pytest.mark.parametrize(
    "message",
    [
        MESSAGE,
        # Blanks at line ends, tabs, runs of spaces and empty lines at the end of the body.
        MESSAGE.replace(b"Hej Ida", b"Hej \t  Ida  \t") + b"\r\n  \r\n\r\n",
        MESSAGE + b"no line end at the end  ",
        MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n",  # an empty body
        MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n",  # headers only
        MESSAGE.replace(
            b"To: ida@example.com\r\n", b"To: a@example.com\r\nTo:\tida@example.com \r\n"
        ),
    ],
    ids=["plain", "blanks", "no-final-line-end", "empty-body", "headers-only", "repeated-to"],
)
def test_signed_messages_verify(key: tuple[DkimKey, Dns], message: bytes) -> None:
    signer, txt = key
    signed = signer.signed(message)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    # The header goes in front, and a line end at the end when there was none (as SMTP would).
    assert signed.endswith(message if message.endswith(b"\r\n") else message + b"\r\n")
    assert dkim.verify(signed, dnsfunc=txt)


def test_the_headers_that_matter_are_signed_and_no_others(key: tuple[DkimKey, Dns]) -> None:
    signer, txt = key
    signed = signer.signed(MESSAGE)
    header = email.message_from_bytes(signed)["DKIM-Signature"]
    fields = dkim.util.parse_tag_value(str(header).encode("ascii"))
    assert fields[b"h"] == b"from:to:subject:date:message-id:mime-version:content-type"
    assert (fields[b"d"], fields[b"s"], fields[b"c"]) == (
        b"butik.example",
        b"mail",
        b"relaxed/relaxed",
    )
    assert max(len(line) for line in signed.split(b"\r\n")) < 998
    # An unsigned header may change; a signed one may not.
    assert dkim.verify(signed.replace(b"winback", b"spring"), dnsfunc=txt)
    assert not dkim.verify(signed.replace(b"ida@example.com", b"ib@example.com"), dnsfunc=txt)


def test_relaxed_canonicalization_survives_a_relay_rewrapping_whitespace(
    key: tuple[DkimKey, Dns],
) -> None:
    signer, txt = key
    signed = signer.signed(MESSAGE)
    rewrapped = (
        signed.replace(b"To: ida@example.com", b"To:   ida@example.com  ")
        .replace(b"Date: Fri, 01 May", b"Date: Fri,\r\n\t01  May")
        .replace(b"Hej Ida\r\n", b"Hej  Ida \r\n")
        + b"\r\n\r\n"
    )
    assert dkim.verify(rewrapped, dnsfunc=txt)
    assert not dkim.verify(rewrapped.replace(b"Hej  Ida", b"Hej  Ide"), dnsfunc=txt)


def test_a_key_file_loads_and_a_1024_bit_key_is_enough(tmp_path: Path) -> None:
    pem, txt = make_key(1024)
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem)
    signer = load_dkim_key("mail", "butik.example", path)
    assert dkim.verify(signer.signed(MESSAGE), dnsfunc=txt)
    assert b"PRIVATE" not in repr(signer).encode() and "butik.example" in repr(signer)


#: A 512-bit key (openssl genrsa 512), too short for DKIM; made for this test only.
WEAK_KEY = b"""-----BEGIN PRIVATE KEY-----
MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEAsIEa5EBAJFxZMTwL
pFoUgTl6YAC32xZyFLaXBeLciRbHxiYWCGC2Vq09Cqyj/X5p+jkPHnJEE45/TnYo
TDZxzQIDAQABAkEAqaW9witbO1ejxuXOzs5iLP6g98tY6/R7/Bqvt9GgZQXuoiw7
ThZ70kG6WsiFsM8q2d5nPKvVOCprw9OYfbpDBQIhANbMcHmDw/+TurEQF3FhIqtj
sQpiHYXckH88oFLT5funAiEA0lw/WmLZRNrQQoGnGywDALXYDlB7gbBHG/Gy/s70
BWsCIQC6i+De173f+Bf6cMQ7VqX6fWEjaGTFffIMXsXKSXeCHwIgefgQp6iuz1SL
8jPYn1GagBvvpQUXR2/dGx++KC34oPcCIQCGy7/PZfSWSWcLawcJ3GIfxq0haEB3
dTubqLYAFXczYQ==
-----END PRIVATE KEY-----
"""


def _ed25519() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _encrypted() -> bytes:
    key = load_pem_private_key(WEAK_KEY, password=None)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"pw"))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        (b"", "not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", "not a PEM"),
        (WEAK_KEY, "512 bits; DKIM needs 1024 or more"),
        (_ed25519(), "RSA key"),
        (_encrypted(), "encrypted"),
    ],
    ids=["missing", "empty", "garbage", "512-bit", "ed25519", "encrypted"],
)
def test_a_key_file_that_cannot_sign_names_the_setting(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "dkim.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigurationError, match=f"RETENTIO_DKIM_KEY_FILE: .*{problem}"):
        load_dkim_key("mail", "butik.example", path)


@pytest.mark.parametrize(
    ("selector", "domain", "setting"),
    [
        ("", "butik.example", "RETENTIO_DKIM_SELECTOR"),
        ("mail; d=evil.example", "butik.example", "RETENTIO_DKIM_SELECTOR"),
        ("mail", "butik.example.", "RETENTIO_DKIM_DOMAIN"),
        ("mail", "bütik.example", "RETENTIO_DKIM_DOMAIN"),
    ],
)
def test_a_selector_or_domain_that_is_not_a_dns_name_names_the_setting(
    key: tuple[DkimKey, Dns], selector: str, domain: str, setting: str
) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        DkimKey(selector, domain, key[0].private_key)
