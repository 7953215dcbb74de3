"""Names shared by several domains: the channels a customer is reached on and the purposes of
messages (consent is given per channel x purpose; segments and campaigns test it)."""

from __future__ import annotations

__all__ = ["CONSENT_CHANNELS", "PURPOSES"]

#: Channels a consent can be given for.
CONSENT_CHANNELS = ("email", "in_app", "push", "sms")
#: What the messages are for.
PURPOSES = ("marketing", "surveys", "transactional")
