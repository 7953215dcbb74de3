"""A real SMTP server for the tests: aiosmtpd on a loopback port, keeping what it receives."""

from __future__ import annotations

import email
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Sink:
    """An SMTP handler that keeps what it received (parsed, and ``raw`` as the bytes that
    came); ``refuse`` answers for some recipients."""

    received: list[Message] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    sessions: int = 0
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> Any:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        with self.lock:
            self.received.append(email.message_from_bytes(envelope.content))
            self.raw.append(envelope.content)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message_ids(handler: Sink) -> list[str]:
    """The Message-IDs received, in order of arrival."""
    with handler.lock:
        return [str(m["Message-ID"]) for m in handler.received]
