"""Normalised contact addresses and their keyed HMAC (domain rules: no I/O).

The suppression list must recognise an address however it is typed again ("Anna@Example.DK ",
"+45 20 12 34 56", "0045 20123456") without holding the address itself, so it stores
HMAC-SHA256(secret, channel + ":" + normalised address). Normalisation: e-mail addresses are
trimmed and lower-cased (the local part too: mailbox providers treat it case-insensitively in
practice); phone numbers become E.164 (``+4520123456``), read in the customer's country when they
carry no country code.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers

from retentio.core.errors import DataError

__all__ = ["CHANNELS", "address_hmac", "normalise_address", "normalise_email", "normalise_phone"]

#: The channels whose addresses are normalised here, and how.
CHANNELS = ("email", "sms")


def normalise_email(address: str) -> str:
    """``address`` trimmed and lower-cased; a DataError when it is not an e-mail address."""
    value = address.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value):
        raise DataError(f"email: not an e-mail address: {address!r}")
    return value


def normalise_phone(number: str, region: str | None = None) -> str:
    """``number`` in E.164; ``region`` (ISO 3166 code, e.g. DK) reads numbers without a country
    code. A DataError when it is not a valid phone number."""
    try:
        parsed = phonenumbers.parse(number, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        hint = "" if region else " (give the country, or write it with +country code)"
        raise DataError(f"phone: not a valid phone number: {number!r}{hint}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_address(channel: str, address: str, region: str | None = None) -> str:
    """The normalised ``address`` of ``channel`` (email or sms)."""
    if channel == "email":
        return normalise_email(address)
    if channel == "sms":
        return normalise_phone(address, region)
    raise DataError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")


def address_hmac(secret: bytes, channel: str, address: str, region: str | None = None) -> str:
    """HMAC-SHA256 (hex) of the channel and the normalised address under ``secret``."""
    if len(secret) < 32:
        raise DataError("the HMAC secret must be at least 32 bytes")
    message = f"{channel}:{normalise_address(channel, address, region)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
