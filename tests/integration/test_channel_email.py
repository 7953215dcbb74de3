"""E-mail over SMTP against a real SMTP server (aiosmtpd on loopback): what arrives, one
connection for many messages, STARTTLS and smtps, how refusals and outages are classed, and
DKIM signatures that verify on the bytes received."""

from __future__ import annotations

import base64
import email
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from smtp_helpers import Sink, free_port

from retentio.channels import OutgoingEmail, SmtpChannel, SmtpSettings
from retentio.channels.dkim_signing import DkimKey, load_dkim_key
from retentio.core.errors import ConfigurationError


def message(n: int, **changes: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "message_id": f"<delivery-{n}@retentio.example>",
        "sender": "Butikken <shop@butik.example>",
        "recipient": f"kunde{n}@example.com",
        "subject": "Vi savner dig – 10 % rabat på æbler",
        "text": "Hej Ida\n\nAfmeld: https://butik.example/u/TOKEN\n",
        "html": "<p>Hej Ida</p><p><a href='https://butik.example/u/TOKEN'>Afmeld</a></p>",
        "unsubscribe_url": "https://butik.example/u/TOKEN",
    }
    return OutgoingEmail(**(values | changes))


def test_messages_arrive_whole_over_one_reused_connection(sink: tuple[Sink, int]) -> None:
    handler, port = sink
    with SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}")) as channel:
        results = [channel.send(message(n)) for n in range(3)]
    assert [r.status for r in results] == ["sent"] * 3
    assert results[0].provider_id == "<delivery-0@retentio.example>"
    assert (channel.connections, handler.sessions) == (1, 1)
    first = handler.received[0]
    assert first["Message-ID"] == "<delivery-0@retentio.example>"
    assert str(email.header.make_header(email.header.decode_header(first["Subject"]))) == (
        "Vi savner dig – 10 % rabat på æbler"
    )
    assert first["List-Unsubscribe"] == "<https://butik.example/u/TOKEN>"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first.get_content_type() == "multipart/alternative"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in first.walk()
        if not p.is_multipart()
    }
    assert "Afmeld: https://butik.example/u/TOKEN" in parts["text/plain"]
    assert "<a href='https://butik.example/u/TOKEN'>Afmeld</a>" in parts["text/html"]
    assert sorted(m["Message-ID"] for m in handler.received) == [
        f"<delivery-{n}@retentio.example>" for n in range(3)
    ]


def test_refusals_are_permanent_for_5xx_and_transient_for_4xx(sink: tuple[Sink, int]) -> None:
    handler, port = sink
    handler.refuse = {
        "gone@example.com": "550 5.1.1 No such user",
        "full@example.com": "452 4.2.2 Mailbox full",
    }
    with SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}")) as channel:
        gone = channel.send(message(1, recipient="gone@example.com"))
        full = channel.send(message(2, recipient="full@example.com"))
        fine = channel.send(message(3))  # the connection is still usable
    assert (gone.status, gone.code) == ("permanent", 550) and "No such user" in gone.detail
    assert (full.status, full.code) == ("transient", 452)
    assert fine.sent and [m["Message-ID"] for m in handler.received] == [
        "<delivery-3@retentio.example>"
    ]


def test_a_server_down_is_transient_and_the_message_goes_once_it_is_up() -> None:
    port = free_port()
    channel = SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}", timeout=2))
    down = channel.send(message(1))
    assert down.status == "transient" and "cannot use the SMTP server" in down.detail
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert channel.send(message(1)).sent
        channel.close()
    finally:
        controller.stop()
    assert [m["Message-ID"] for m in handler.received] == ["<delivery-1@retentio.example>"]


def test_a_connection_the_server_dropped_is_reopened() -> None:
    handler, port = Sink(), free_port()
    # The server closes a connection idle for 0.3 s, as real ones do after a few minutes.
    controller = Controller(handler, hostname="127.0.0.1", port=port, timeout=0.3)
    controller.start()
    try:
        channel = SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}"))
        assert channel.send(message(1)).sent
        time.sleep(0.8)
        assert channel.send(message(2)).sent
        channel.close()
    finally:
        controller.stop()
    assert channel.connections == handler.sessions == 2
    assert [m["Message-ID"] for m in handler.received] == [
        "<delivery-1@retentio.example>",
        "<delivery-2@retentio.example>",
    ]


@pytest.fixture(scope="module")
def certificate() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
def test_tls_by_starttls_or_from_the_start(scheme: str, certificate: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    certificate.configure_trust(client_context)
    handler, port = Sink(), free_port()
    if scheme == "starttls":
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            tls_context=server_context,
            require_starttls=True,
        )
        url = f"smtp://127.0.0.1:{port}?starttls=true"
    else:
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            server_hostname="127.0.0.1",
            ssl_context=server_context,
        )
        url = f"smtps://127.0.0.1:{port}"
    controller.start()
    try:
        with SmtpChannel(SmtpSettings.from_url(url), tls_context=client_context) as channel:
            assert channel.send(message(1)).sent
    finally:
        controller.stop()
    assert len(handler.received) == 1


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:25", "expected smtp://"),
        ("smtp://", "expected smtp://"),
        ("smtps://h:465?starttls=true", "drop starttls"),
        ("smtp://h:port", "not a port"),
    ],
)
def test_bad_smtp_urls_say_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        SmtpSettings.from_url(url)


def test_urls_carry_credentials_and_defaults() -> None:
    settings = SmtpSettings.from_url("smtp://us%40er:p%3Ass@mail.example:587?starttls=1")
    assert (settings.username, settings.password, settings.port) == ("us@er", "p:ss", 587)
    assert settings.starttls and not settings.tls
    assert SmtpSettings.from_url("smtps://mail.example").port == 465


def test_an_unsubscribe_link_must_be_https(sink: tuple[Sink, int]) -> None:
    _, port = sink
    with SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}")) as channel:
        with pytest.raises(ConfigurationError, match="https"):
            channel.send(message(1, unsubscribe_url="http://butik.example/u/T"))


def test_the_settings_build_the_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    from retentio.bootstrap import Settings

    monkeypatch.delenv("RETENTIO_SMTP_URL", raising=False)
    with pytest.raises(ConfigurationError, match="RETENTIO_SMTP_URL is not set"):
        Settings(_env_file=None).email_channel()  # type: ignore[call-arg]
    monkeypatch.setenv("RETENTIO_SMTP_URL", "smtp://127.0.0.1:1025")
    channel = Settings(_env_file=None).email_channel()  # type: ignore[call-arg]
    assert (channel.settings.host, channel.settings.port) == ("127.0.0.1", 1025)


class Refusing(Sink):
    """A server that refuses the sender (relaying denied) or the login."""

    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        return "550 5.7.1 Relaying denied"


def test_a_refused_sender_is_our_problem_not_a_bounce_of_the_recipient() -> None:
    handler, port = Refusing(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}")) as channel:
            result = channel.send(message(1))
    finally:
        controller.stop()
    assert result.status == "transient" and "Relaying denied" in result.detail


def test_a_login_the_server_refuses_is_transient() -> None:
    # No AUTH offered on a plain connection: logging in fails before any recipient is named.
    handler, port = Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        url = f"smtp://user:pw@127.0.0.1:{port}"
        with SmtpChannel(SmtpSettings.from_url(url)) as channel:
            result = channel.send(message(1))
    finally:
        controller.stop()
    assert result.status == "transient" and "cannot use the SMTP server" in result.detail
    assert handler.received == []


def test_a_server_that_drops_every_connection_is_transient() -> None:
    # It greets, then closes at once: the first attempt and the reopened one both fail.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                for _ in range(4):
                    connection, _ = listener.accept()
                    connection.sendall(b"220 hello\r\n")
                    connection.recv(1024)
                    connection.sendall(b"250 ok\r\n")
                    connection.close()
            except OSError:  # the listener closed under accept(): the test is over
                return

        import threading

        threading.Thread(target=serve, daemon=True).start()
        channel = SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}", timeout=2))
        result = channel.send(message(1))
    assert result.status == "transient"


# DKIM: signed just before sending, checked by dkimpy on the bytes the server received.


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[DkimKey, Callable[..., Any]]:
    """A 2048-bit key loaded from its file, and the DNS lookup of its TXT record."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        return record if name == b"mail2026._domainkey.butik.example." else None

    return load_dkim_key("mail2026", "butik.example", path), txt


def test_signed_messages_verify_as_they_arrived(
    sink: tuple[Sink, int], dkim_key: tuple[DkimKey, Callable[..., Any]]
) -> None:
    handler, port = sink
    key, txt = dkim_key
    url = f"smtp://127.0.0.1:{port}"
    with SmtpChannel(SmtpSettings.from_url(url), dkim=key) as channel:
        assert channel.send(message(1)).sent  # HTML and text, List-Unsubscribe
        assert channel.send(message(2, html="", text="Hej", reply_to="svar@butik.example")).sent
    first, second = handler.raw
    assert first.startswith(
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=butik.example; s=mail2026;"
    )
    assert dkim.verify(first, dnsfunc=txt) and dkim.verify(second, dnsfunc=txt)
    assert signed_headers(handler.received[0]) == (
        "from:to:subject:date:message-id:mime-version:content-type:list-unsubscribe:"
        "list-unsubscribe-post"
    )
    assert signed_headers(handler.received[1]) == (
        "from:to:subject:date:message-id:reply-to:mime-version:content-type:list-unsubscribe:"
        "list-unsubscribe-post"
    )
    assert handler.received[0].get_content_type() == "multipart/alternative"


def signed_headers(received: email.message.Message) -> str:
    """The h= tag of a message's DKIM-Signature: the header fields it signs."""
    tags = dkim.util.parse_tag_value(str(received["DKIM-Signature"]).encode("ascii"))
    return str(tags[b"h"].decode("ascii"))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<p>Hej Ida</p>", b"<p>Hej Ide</p>"),  # the HTML part
        (b"/u/TOKEN>", b"/u/TOKEX>"),  # the one-click unsubscribe link
    ],
    ids=["body", "list-unsubscribe"],
)
def test_a_changed_byte_fails_verification(
    sink: tuple[Sink, int], dkim_key: tuple[DkimKey, Callable[..., Any]], old: bytes, new: bytes
) -> None:
    handler, port = sink
    key, txt = dkim_key
    with SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}"), dkim=key) as channel:
        assert channel.send(message(1)).sent
    (raw,) = handler.raw
    assert raw.count(old) == 1 and dkim.verify(raw, dnsfunc=txt)
    assert not dkim.verify(raw.replace(old, new), dnsfunc=txt)


def test_without_a_dkim_key_messages_are_not_signed(sink: tuple[Sink, int]) -> None:
    handler, port = sink
    with SmtpChannel(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}")) as channel:
        assert channel.dkim is None and channel.send(message(1)).sent
    assert handler.received[0]["DKIM-Signature"] is None
    assert b"DKIM-Signature" not in handler.raw[0]


def test_a_bad_dkim_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigurationError, match="RETENTIO_DKIM_KEY_FILE"):
        load_dkim_key("mail2026", "butik.example", path)
    with pytest.raises(ConfigurationError, match="RETENTIO_DKIM_KEY_FILE: cannot read"):
        load_dkim_key("mail2026", "butik.example", tmp_path / "missing.pem")


def test_the_settings_sign_with_the_dkim_key_of_the_mail_from_domain(
    sink: tuple[Sink, int],
    dkim_key: tuple[DkimKey, Callable[..., Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from retentio.bootstrap import Settings

    handler, port = sink
    key, txt = dkim_key
    path = tmp_path / "dkim.pem"
    path.write_bytes(key.private_key)
    monkeypatch.setenv("RETENTIO_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("RETENTIO_MAIL_FROM", "Butikken <shop@Butik.Example>")
    monkeypatch.setenv("RETENTIO_DKIM_KEY_FILE", str(path))
    with pytest.raises(ConfigurationError, match="RETENTIO_DKIM_SELECTOR is not set"):
        Settings(_env_file=None).email_channel()  # type: ignore[call-arg]
    monkeypatch.setenv("RETENTIO_DKIM_SELECTOR", "mail2026")
    with Settings(_env_file=None).email_channel() as channel:  # type: ignore[call-arg]
        assert channel.send(message(3)).sent
    assert dkim.verify(handler.raw[0], dnsfunc=txt)  # d= the domain of RETENTIO_MAIL_FROM
