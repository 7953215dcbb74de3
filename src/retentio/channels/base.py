"""What every channel answers for a message: sent, or failed for now (retry), or for good.

A channel is a port: ``send(message) -> DeliveryResult``. The delivery engine retries
``transient`` failures with backoff and suppresses the address on a ``permanent`` one (a hard
bounce); ``sent`` carries the provider's id when it gives one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DeliveryResult", "DeliveryStatus"]

DeliveryStatus = Literal["sent", "transient", "permanent"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one send: ``status``, a ``detail`` for people (the server's answer), the
    provider's message id (``sent``), and the protocol's code when there is one."""

    status: DeliveryStatus
    detail: str = ""
    provider_id: str | None = None
    code: int | None = None

    @property
    def sent(self) -> bool:
        return self.status == "sent"
