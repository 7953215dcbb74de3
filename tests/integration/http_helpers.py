"""A real HTTP(S) server for the channel tests: a threading ``http.server`` on loopback that
keeps every request and answers as the test says; with a trustme CA, an HTTPS one under a
host name and the webhook channel that reaches it."""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme

from retentio.channels import WebhookChannel

#: What the webhook channel may reach in these tests (its guard refuses loopback otherwise).
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Receiver:
    """What the server received; ``answer`` decides each response (default 200 ``{}``)."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    answer: Callable[[Request], Answer] = lambda _request: Answer(200, {})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Request]:
        with self.lock:
            return list(self.requests)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.path, dict(self.headers.items()), self.rfile.read(length))
            with receiver.lock:
                receiver.requests.append(request)
            answer = receiver.answer(request)
            if answer.delay:
                threading.Event().wait(answer.delay)
            body = b"" if answer.body is None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    return Handler


@contextmanager
def http_receiver(tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Iterator[Receiver]:
    """A server on a free loopback port (HTTPS with ``tls``) until the block ends."""
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    receiver.url = f"{'https' if tls else 'http'}://{host}:{port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def https_receiver(ca: trustme.CA, host: str) -> Iterator[Receiver]:
    """An HTTPS server on loopback with a certificate for ``host`` from ``ca``."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(server)
    with http_receiver(server, host=host) as receiver:
        yield receiver


def loopback_webhooks(key: bytes, ca: trustme.CA, host: str, **options: Any) -> WebhookChannel:
    """A webhook channel signing with ``key`` that trusts ``ca`` and finds ``host`` (and only
    it) on loopback; ``options`` replace the channel's settings."""

    def resolve_to_loopback(name: str, _port: int) -> list[str]:
        assert name == host, name
        return ["127.0.0.1"]

    client = ssl.create_default_context()
    ca.configure_trust(client)
    settings: dict[str, Any] = {
        "allowed": LOOPBACK,
        "resolver": resolve_to_loopback,
        "verify_tls": client,
    }
    return WebhookChannel(key, **(settings | options))
