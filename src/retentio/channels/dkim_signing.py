"""DKIM signatures (RFC 6376) for outgoing e-mail: rsa-sha256, relaxed/relaxed.

:meth:`DkimKey.signed` signs the serialised message (CRLF line ends, as the SMTP channel
sends it) and puts the ``DKIM-Signature`` header in front, so what is signed is exactly what
is sent. The receiver finds the public key in DNS, as the TXT record
``<selector>._domainkey.<domain>``: ``v=DKIM1; k=rsa; p=<base64 of the DER public key>``.
The signed fields are those of From, To, Subject, Date, Message-ID, Reply-To, MIME-Version,
Content-Type, List-Unsubscribe and List-Unsubscribe-Post that the message has.

The RSA operation goes through OpenSSL (``cryptography``): 0.4 ms a message with a 2048-bit
key, where dkimpy's pure-Python RSA takes 7.5 ms (measured), too slow for 300 messages a
second per worker; dkimpy is the independent verifier in the tests. Ed25519 (RFC 8463) is
not offered: many receivers check only RSA, so an RSA signature is needed anyway.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from retentio.core.errors import ConfigurationError

__all__ = ["DkimKey", "load_dkim_key"]

#: The header fields signed, those of them a message has (Reply-To too: where answers go).
_SIGNED = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "mime-version",
    "content-type",
    "list-unsubscribe",
    "list-unsubscribe-post",
)

#: RFC 6376 3.1 (selectors) and RFC 5321 (domains): dot-separated letters, digits, hyphens.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_FIELD_END = re.compile(rb"\r\n(?![ \t])")  # a line end not followed by a folded line
_WSP = re.compile(rb"[ \t]+")
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_PROBE = b"retentio DKIM key check"


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A DKIM signing key: ``private_key`` is an unencrypted RSA key of 1024 bits or more in
    PEM (2048 recommended); a ConfigurationError naming the setting when it cannot sign."""

    selector: str
    domain: str
    private_key: bytes = field(repr=False)
    _rsa: rsa.RSAPrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.selector):
            raise ConfigurationError(
                f"RETENTIO_DKIM_SELECTOR: not a DNS label like 'mail2026': {self.selector!r}"
            )
        if not _NAME.fullmatch(self.domain):
            raise ConfigurationError(
                f"RETENTIO_DKIM_DOMAIN: not a domain like 'butik.example' (use the xn-- form "
                f"of a non-ASCII one): {self.domain!r}"
            )
        object.__setattr__(self, "_rsa", _rsa_key(self.private_key))

    def signed(self, message: bytes) -> bytes:
        """``message`` (CRLF line ends) with a ``DKIM-Signature`` header in front, and a CRLF
        at its end when it had none: SMTP would add one, and verifiers differ on blanks
        before a missing one."""
        if not message.endswith(b"\r\n"):
            message += b"\r\n"
        head, separator, body = message.partition(b"\r\n\r\n")
        if not separator:  # headers only
            head, body = message.removesuffix(b"\r\n"), b""
        present: dict[bytes, bytes] = {}
        for line in _FIELD_END.split(head):
            name, _, value = line.partition(b":")
            present[name.rstrip(b" \t").lower()] = value  # the last of a name is signed
        names = [name for name in (n.encode("ascii") for n in _SIGNED) if name in present]
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest())
        tags = (
            f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={self.domain}; s={self.selector};\r\n"
            f" t={int(time.time())}; h={':'.join(n.decode('ascii') for n in names)};\r\n"
            f" bh={body_hash.decode('ascii')};\r\n b="
        ).encode("ascii")
        # What is signed: the chosen headers, then this one with an empty b= and no line end.
        signed = b"".join(name + b":" + _relaxed(present[name]) + b"\r\n" for name in names)
        signed += b"dkim-signature:" + _relaxed(tags)
        signature = base64.b64encode(self._rsa.sign(signed, _PKCS1, _SHA256))
        return b"DKIM-Signature: " + tags + signature + b"\r\n" + message


def load_dkim_key(selector: str, domain: str, key_file: str | Path) -> DkimKey:
    """The key of a PEM file, checked by signing: a ConfigurationError naming the setting
    (``RETENTIO_DKIM_KEY_FILE``, ``_SELECTOR``, ``_DOMAIN``) when it cannot be used."""
    try:
        pem = Path(key_file).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"RETENTIO_DKIM_KEY_FILE: cannot read {key_file}: {exc}") from None
    return DkimKey(selector, domain, pem)


def _rsa_key(pem: bytes) -> rsa.RSAPrivateKey:
    """The RSA key of ``pem``, proven by signing and verifying a probe."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:  # it asks for a password
        raise ConfigurationError(
            "RETENTIO_DKIM_KEY_FILE: the key is encrypted; DKIM needs it unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigurationError(
            "RETENTIO_DKIM_KEY_FILE: not a PEM private key (make one with: "
            "openssl genrsa -out dkim.pem 2048)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("RETENTIO_DKIM_KEY_FILE: DKIM signs with an RSA key, not this one")
    if key.key_size < 1024:  # RFC 8301: verifiers refuse shorter keys
        raise ConfigurationError(
            f"RETENTIO_DKIM_KEY_FILE: the key has {key.key_size} bits; DKIM needs 1024 or more "
            "(2048 recommended)"
        )
    try:
        key.public_key().verify(key.sign(_PROBE, _PKCS1, _SHA256), _PROBE, _PKCS1, _SHA256)
    except InvalidSignature:  # pragma: no cover (OpenSSL checks the key as it loads it)
        raise ConfigurationError("RETENTIO_DKIM_KEY_FILE: the key does not sign") from None
    return key


def _relaxed(value: bytes) -> bytes:
    """A header value in relaxed form (RFC 6376 3.4.2): unfolded, runs of blanks one space,
    none at the ends."""
    return _WSP.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")


def _relaxed_body(body: bytes) -> bytes:
    """The body in relaxed form (RFC 6376 3.4.4): runs of blanks one space, none at line
    ends, no empty lines at the end; one CRLF at the end unless it is empty."""
    body = _WSP.sub(b" ", body).replace(b" \r\n", b"\r\n").rstrip(b"\r\n")
    return body + b"\r\n" if body else b""
