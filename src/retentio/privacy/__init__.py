"""Privacy duties: normalised addresses and the suppression list (more in issue 4)."""

from retentio.privacy.addresses import (
    CHANNELS,
    address_hmac,
    normalise_address,
    normalise_email,
    normalise_phone,
)
from retentio.privacy.suppression import is_suppressed, suppress

__all__ = [
    "CHANNELS",
    "address_hmac",
    "is_suppressed",
    "normalise_address",
    "normalise_email",
    "normalise_phone",
    "suppress",
]
