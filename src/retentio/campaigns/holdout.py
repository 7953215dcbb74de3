"""Control groups: which customers a campaign holds out, so its lift can be measured.

Assignment is a deterministic hash bucket: SHA-256 of the campaign's key and the customer's
id, read as a number in [0, 1). A customer is held out when the number is below the share
(10 % by default). The same customer is always in the same group of a campaign, whenever
and however often it is asked. Campaigns get independent groups, because their keys differ.
The global control group (customers who get no marketing at all, to measure the whole
programme) uses the key ``global``. Pure: no state, no I/O.
"""

from __future__ import annotations

import hashlib

from retentio.core.errors import ConfigurationError

__all__ = ["DEFAULT_HOLDOUT", "GLOBAL_KEY", "bucket", "in_global_control", "in_holdout"]

DEFAULT_HOLDOUT = 0.10
GLOBAL_KEY = "global"
_SCALE = float(2**64)


def bucket(key: str, customer: str | int) -> float:
    """The customer's place in [0, 1) for ``key``: uniform, and the same every time."""
    digest = hashlib.sha256(f"{key}\x1f{customer}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def _share(share: float) -> float:
    if not 0.0 <= share < 1.0:
        raise ConfigurationError(f"a holdout share lies in [0, 1), not {share!r}")
    return share


def in_holdout(key: str, customer: str | int, share: float = DEFAULT_HOLDOUT) -> bool:
    """Whether ``customer`` is in the control group of the campaign or journey ``key``."""
    return bucket(key, customer) < _share(share)


def in_global_control(customer: str | int, share: float) -> bool:
    """Whether ``customer`` is in the global control group (``share`` 0: there is none)."""
    return share > 0 and bucket(GLOBAL_KEY, customer) < _share(share)
