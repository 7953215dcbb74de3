"""E-mail over SMTP: one connection reused across messages, HTML and text parts, a stable
Message-ID, and RFC 8058 one-click unsubscribe headers.

The SMTP server is given as a URL (``RETENTIO_SMTP_URL``):

- ``smtp://host:port``: plain SMTP (a local relay, or a test server);
- ``smtp://user:password@host:587?starttls=true``: STARTTLS before logging in;
- ``smtps://user:password@host:465``: TLS from the start.

Answers are classified for the delivery engine: 2xx is ``sent``. 4xx, a dropped connection, a
timeout, and every refusal of our side (login, sender, greeting) are ``transient``, so the
message is tried again later and no recipient pays for a setting. 5xx for the recipient or for
the message after its data is ``permanent``, a hard bounce.

A message's ``Message-ID`` comes from its delivery row, so a message that is retried is sent
with the same id every time, and receivers and the tests can count each message once.
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formatdate, parseaddr
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

from retentio.channels.base import DeliveryResult
from retentio.core.errors import ConfigurationError

__all__ = ["OutgoingEmail", "SmtpChannel", "SmtpSettings", "build_message"]

_TRUE = ("1", "true", "yes", "on")
#: Header lines up to RFC 5322's limit of 998 characters: a long unsubscribe URL has no place
#: to fold, and at the usual 78 the library would encode it (=?utf-8?q?...), which mail
#: clients do not read as a URL.
_POLICY = email.policy.default.clone(max_line_length=998)


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One e-mail to send. ``message_id`` is stable per delivery (``<id@domain>``);
    ``unsubscribe_url`` (https) becomes the RFC 8058 headers of a marketing message."""

    message_id: str
    sender: str
    recipient: str
    subject: str
    text: str
    html: str = ""
    unsubscribe_url: str | None = None
    reply_to: str | None = None
    sent_at: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to connect, read from an ``smtp://`` or ``smtps://`` URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False  # TLS from the start (smtps)
    starttls: bool = False
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0) -> SmtpSettings:
        """``smtp://[user:password@]host[:port][?starttls=true]`` or ``smtps://...``."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError(
                f"RETENTIO_SMTP_URL: expected smtp://host:port or smtps://host:port, got {url!r}"
            )
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["false"])[0].lower() in _TRUE
        tls = parts.scheme == "smtps"
        if tls and starttls:
            raise ConfigurationError("RETENTIO_SMTP_URL: smtps already uses TLS; drop starttls")
        try:
            port = parts.port or (465 if tls else 25)
        except ValueError:
            raise ConfigurationError(f"RETENTIO_SMTP_URL: not a port in {url!r}") from None
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            starttls=starttls,
            timeout=timeout,
        )


def build_message(email: OutgoingEmail) -> EmailMessage:
    """The MIME message: text, and HTML as the alternative when given; the headers."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = email.sender
    message["To"] = email.recipient
    message["Subject"] = email.subject
    message["Message-ID"] = email.message_id
    message["Date"] = (
        format_datetime(email.sent_at) if email.sent_at is not None else formatdate(localtime=False)
    )
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    if email.unsubscribe_url:
        if not email.unsubscribe_url.startswith("https://"):
            raise ConfigurationError("the unsubscribe link must be https:// (RFC 8058)")
        message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text)
    if email.html:
        message.add_alternative(email.html, subtype="html")
    return message


def _address(value: str) -> str:
    """The bare address of ``value`` (``Name <a@b>`` -> ``a@b``) for the SMTP envelope."""
    _name, address = parseaddr(value)
    if "@" not in address:
        raise ConfigurationError(f"not an e-mail address: {value!r}")
    return address


class SmtpChannel:
    """Sends e-mail over one SMTP connection, opened on the first send and reused; a dropped
    connection is reopened once per message. Use as a context manager, or call ``close``."""

    def __init__(self, settings: SmtpSettings, *, tls_context: ssl.SSLContext | None = None):
        self.settings = settings
        self._context = tls_context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None
        self.connections = 0  # how many times a connection was opened (for the logs, tests)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP
        if s.tls:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=self._context)
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        self.connections += 1
        return smtp

    def send(self, email: OutgoingEmail) -> DeliveryResult:
        """Send one message; the result says sent, transient (try again) or permanent.

        Only the server's refusal of the recipient, or of the message after its data, is
        permanent (a hard bounce). A refused login or sender, a greeting that turns us away
        and an unreachable server are the sending side's problem: transient, so no
        recipient is suppressed for them.
        """
        message = build_message(email)
        sender, recipient = _address(email.sender), _address(email.recipient)
        for attempt in (1, 2):
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return DeliveryResult("transient", f"cannot use the SMTP server: {exc}")
            try:
                refused = self._smtp.send_message(message, sender, [recipient])
            except smtplib.SMTPServerDisconnected:
                self._drop()
                if attempt == 1:
                    continue  # a reused connection the server had closed: reopen once
                return DeliveryResult("transient", "the SMTP server closed the connection")
            except smtplib.SMTPRecipientsRefused as exc:
                code, answer = next(iter(exc.recipients.values()))
                return _refused(code, answer)
            except smtplib.SMTPSenderRefused as exc:  # our From, not the recipient
                self._reset()
                return DeliveryResult("transient", _answer(exc.smtp_code, exc.smtp_error))
            except smtplib.SMTPDataError as exc:  # the message refused for the recipient
                self._reset()
                return _refused(exc.smtp_code, exc.smtp_error)
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return DeliveryResult("transient", f"cannot use the SMTP server: {exc}")
            if refused:
                code, answer = next(iter(refused.values()))
                return _refused(code, answer)
            return DeliveryResult("sent", "accepted", provider_id=email.message_id, code=250)
        return DeliveryResult("transient", "the SMTP server closed the connection")

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:  # pragma: no cover
                pass
        self._smtp = None

    def close(self) -> None:
        """QUIT and close the connection, if one is open."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()


def _answer(code: int, answer: bytes | str) -> str:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    return f"{code} {text}"


def _refused(code: int, answer: bytes | str) -> DeliveryResult:
    """A refusal of the recipient or the message: 5xx permanent, else transient."""
    if 500 <= code < 600:
        return DeliveryResult("permanent", _answer(code, answer), code=code)
    return DeliveryResult("transient", _answer(code, answer), code=code)
