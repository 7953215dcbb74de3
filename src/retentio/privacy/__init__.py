"""Privacy duties: normalised addresses and the suppression list (more in issue 4)."""

from retentio.privacy.addresses import (
    CHANNELS,
    address_hmac,
    normalise_address,
    normalise_email,
    normalise_phone,
)

__all__ = [
    "CHANNELS",
    "address_hmac",
    "normalise_address",
    "normalise_email",
    "normalise_phone",
]
