"""What every channel answers for a message: sent, or failed for now (retry), or for good.

A channel is a port: ``send(message) -> DeliveryResult``. The delivery engine retries
``transient`` failures with backoff and suppresses the address on a ``permanent`` one (a hard
bounce); a ``rejected`` message (one the provider will never take, through no fault of the
address) fails at once and suppresses nobody; ``sent`` carries the provider's id when it gives
one. ``refused`` marks a transient answer that is about the recipient (an SMTP 4xx for the
address, a soft bounce), as opposed to a provider or network that did not answer: a soft bounce
on every try suppresses the address, an outage never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DeliveryResult", "DeliveryStatus"]

DeliveryStatus = Literal["sent", "transient", "permanent", "rejected"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one send: ``status``, a ``detail`` for people (the server's answer), the
    provider's message id (``sent``), the protocol's code when there is one, and whether the
    answer was about the recipient (``refused``); ``retry_after`` is the provider's own wait,
    in seconds, before a transient failure is tried again."""

    status: DeliveryStatus
    detail: str = ""
    provider_id: str | None = None
    code: int | None = None
    refused: bool = False
    retry_after: float | None = None

    @property
    def sent(self) -> bool:
        return self.status == "sent"
