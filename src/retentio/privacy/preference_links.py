"""Signed links to the preference centre (``/p/<token>``), in every message.

The token (:class:`retentio.core.signing.Signer`, purpose ``preferences``) names the customer by
internal id (never an address: tokens end up in logs), the channel the link was sent over
(``v``: an e-mail link proves the mailbox, so granting e-mail marketing there counts as a
confirmed double opt-in) and when it was issued (``i``: downloading or erasing one's data
needs a link of the last :data:`DATA_REQUEST_MAX_AGE`, so an old forwarded message cannot).
It lives here, beside the withdrawal links, because both the delivery worker (campaigns) and
the page (the API) use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from retentio.core.errors import ConfigurationError
from retentio.core.signing import Signer, TokenError
from retentio.core.vocabulary import CONSENT_CHANNELS

__all__ = [
    "DATA_REQUEST_MAX_AGE",
    "PREFERENCES_PURPOSE",
    "PREFERENCES_TTL",
    "PreferenceToken",
    "preference_link",
    "preference_token",
    "read_preference_token",
]

PREFERENCES_PURPOSE = "preferences"
#: How long a link in a message opens the preference centre.
PREFERENCES_TTL = timedelta(days=365)
#: How recent a link must be to download or erase the customer's data.
DATA_REQUEST_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class PreferenceToken:
    """What a verified token says: the customer (internal id), the channel the link came
    over (None: not known) and when it was issued (UTC)."""

    customer_id: int
    via: str | None
    issued_at: datetime

    def fresh(self, now: datetime) -> bool:
        """Whether the link is recent enough to download or erase the customer's data."""
        return now - self.issued_at <= DATA_REQUEST_MAX_AGE


def preference_token(
    signer: Signer,
    customer: int,
    ttl: timedelta = PREFERENCES_TTL,
    *,
    via: str | None = None,
    now: datetime | None = None,
) -> str:
    """A signed token opening ``customer``'s (internal id) preference centre for ``ttl``;
    ``via`` is the channel the link goes out on, ``now`` the time of issue."""
    if via is not None and via not in CONSENT_CHANNELS:
        raise ConfigurationError(f"via must be one of {', '.join(CONSENT_CHANNELS)}, not {via!r}")
    issued = (now or datetime.now(UTC)).astimezone(UTC)
    data: dict[str, object] = {"c": customer, "i": int(issued.timestamp())}
    if via is not None:
        data["v"] = via
    return signer.sign(PREFERENCES_PURPOSE, data, ttl)


def preference_link(
    signer: Signer,
    base_url: str,
    customer: int,
    ttl: timedelta = PREFERENCES_TTL,
    *,
    via: str | None = None,
    now: datetime | None = None,
) -> str:
    """The preference centre's address for ``customer`` (internal id) under ``base_url``
    (the server's public https:// address): ``<base_url>/p/<token>``."""
    token = preference_token(signer, customer, ttl, via=via, now=now)
    return f"{base_url.rstrip('/')}/p/{token}"


def read_preference_token(signer: Signer, token: str) -> PreferenceToken:
    """What ``token`` says, if it is intact, for the preference centre and unexpired; a
    TokenError (which changes nothing) otherwise."""
    data = signer.verify(PREFERENCES_PURPOSE, token)
    customer, issued, via = data.get("c"), data.get("i"), data.get("v")
    if type(customer) is not int or type(issued) is not int:
        raise TokenError("malformed", "the preference token does not name a customer")
    if via is not None and via not in CONSENT_CHANNELS:
        raise TokenError("malformed", "the preference token names an unknown channel")
    return PreferenceToken(customer, via, datetime.fromtimestamp(issued, UTC))
