"""From a rendered message to what a channel sends.

- **E-mail**: a stable Message-ID and, for marketing, the RFC 8058 one-click unsubscribe
  headers and a visible unsubscribe link: the template's own when it shows
  ``{{ unsubscribe_url }}``, otherwise a short footer in the message's language, so no
  marketing e-mail goes out without one (TRUST.md, "Sending"). The footer offers the
  preference centre first (``{{ preferences_url }}``: fewer e-mails, or a break), unless the
  template shows that link itself.
- **SMS**: a marketing text ends with how to stop ("Reply STOP to opt out", in the message's
  language) unless the template already says STOP; the number is the customer's, in E.164.
- **Push**: the subject is the notification's title, the text its body, ``link`` where a tap
  leads; it goes to every device of the customer.
- **In-app**: the subject is the inbox title; the campaign's ``link`` is where a tap leads.
- **Webhook**: a JSON event (``retentio.message``) with the rendered parts, the customer's
  external id (no address: the shop's system has its own) and the unsubscribe link.

Every message carries a reference derived from its delivery, the same on every try: the
Message-ID of an e-mail, the idempotency key of an SMS, the ``webhook-id`` of a webhook.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from html import escape
from typing import Any

from retentio.campaigns.templates import RenderedMessage
from retentio.channels.email import OutgoingEmail
from retentio.channels.inbox import OutgoingInboxMessage
from retentio.channels.push import OutgoingPush, PushTarget
from retentio.channels.sms import OutgoingSms
from retentio.channels.webhook import OutgoingWebhook
from retentio.core.errors import ConfigurationError

__all__ = [
    "compose_email",
    "compose_inbox",
    "compose_push",
    "compose_sms",
    "compose_webhook",
    "delivery_of_message_id",
    "delivery_reference",
    "message_id",
    "sender_domain",
]

_FOOTER = {
    "da": "Vil du ikke have flere e-mails fra os? Afmeld her:",
    "nl": "Geen e-mails meer van ons ontvangen? Meld je hier af:",
    "en": "Don't want these e-mails any more? Unsubscribe:",
}


_PREFERENCES_FOOTER = {
    "da": "Hellere færre e-mails eller en pause? Ret dine indstillinger:",
    "nl": "Liever minder e-mails of even pauze? Pas je voorkeuren aan:",
    "en": "Fewer e-mails or a break instead? Your preferences:",
}


def sender_domain(sender: str) -> str:
    """The domain of the From address (``Butik <shop@butik.dk>`` -> ``butik.dk``)."""
    _name, address = parseaddr(sender)
    domain = address.rpartition("@")[2]
    if "@" not in address or not domain:
        raise ConfigurationError(f"RETENTIO_MAIL_FROM: not an e-mail address: {sender!r}")
    return domain


_SMS_FOOTER = {
    "da": "Afmeld: svar STOP",
    "nl": "Afmelden: antwoord STOP",
    "en": "Reply STOP to opt out",
}
#: The event type of a webhook message.
WEBHOOK_TYPE = "retentio.message"


def delivery_reference(delivery_id: int, source: str) -> str:
    """The delivery's reference: the same on every try, unique per delivery."""
    return f"{delivery_id}.{source.replace(':', '-')}"


def message_id(delivery_id: int, source: str, domain: str) -> str:
    """The delivery's Message-ID: the same on every try, unique per delivery."""
    return f"<{delivery_reference(delivery_id, source)}@{domain}>"


def delivery_of_message_id(value: str) -> tuple[int, str] | None:
    """The delivery id a Message-ID of :func:`message_id` names, and the Message-ID written
    as stored (``<...>``); None for one that is not of that form."""
    inner = value.strip().strip("<>")
    head, at, domain = inner.partition("@")
    number = head.split(".", 1)[0]
    if not at or not domain or "." not in head or not number.isdigit() or len(number) > 18:
        return None
    return int(number), f"<{inner}>"


def _localised(texts: dict[str, str], locale: str) -> str:
    return texts.get(locale.split("-")[0].lower(), texts["en"])


def _footer(locale: str) -> str:
    return _localised(_FOOTER, locale)


def compose_email(
    rendered: RenderedMessage,
    *,
    recipient: str,
    sender: str,
    message_id: str,
    unsubscribe_url: str | None,
    sent_at: datetime,
    preferences_url: str | None = None,
) -> OutgoingEmail:
    """The e-mail of a rendered message; ``unsubscribe_url`` (marketing) adds the headers and,
    where the template shows no link, a footer with one, after the ``preferences_url`` (the
    preference centre) where the template does not show that."""
    text, html = rendered.text, rendered.html
    if unsubscribe_url:
        links = [(_localised(_PREFERENCES_FOOTER, rendered.locale), preferences_url)]
        links.append((_footer(rendered.locale), unsubscribe_url))
        shown = [(words, url) for words, url in links if url and url not in text]
        if shown:
            lines = "\n".join(f"{words} {url}" for words, url in shown)
            text = f"{text.rstrip()}\n\n--\n{lines}\n"
        if html:
            paragraphs = "".join(
                f'<p style="font-size:12px;color:#666">{escape(words)} '
                f'<a href="{escape(url)}">{escape(url)}</a></p>'
                for words, url in links
                if url and escape(url) not in html and url not in html
            )
            if "</body>" in html:
                html = html.replace("</body>", paragraphs + "</body>")
            else:
                html += paragraphs
    return OutgoingEmail(
        message_id=message_id,
        sender=sender,
        recipient=recipient,
        subject=rendered.subject,
        text=text,
        html=html,
        unsubscribe_url=unsubscribe_url,
        sent_at=sent_at,
    )


def compose_sms(
    rendered: RenderedMessage, *, recipient: str, reference: str, marketing: bool
) -> OutgoingSms:
    """The SMS of a rendered message to ``recipient`` (E.164); a marketing text ends with how
    to stop unless it says STOP already."""
    text = rendered.text.strip()
    if marketing and "STOP" not in text.upper():
        text = f"{text}\n{_localised(_SMS_FOOTER, rendered.locale)}"
    return OutgoingSms(reference=reference, recipient=recipient, text=text)


def compose_inbox(
    rendered: RenderedMessage,
    *,
    delivery_id: int,
    customer_id: int,
    link: str | None,
    sent_at: datetime,
) -> OutgoingInboxMessage:
    """The inbox message of a rendered message."""
    return OutgoingInboxMessage(
        delivery_id=delivery_id,
        customer_id=customer_id,
        title=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        link=link,
        created_at=sent_at,
    )


def compose_webhook(
    rendered: RenderedMessage,
    *,
    url: str,
    reference: str,
    delivery_id: int,
    campaign: str,
    purpose: str,
    customer: str,
    link: str | None,
    offer_code: str | None,
    unsubscribe_url: str | None,
    sent_at: datetime,
) -> OutgoingWebhook:
    """The webhook call of a rendered message: a ``retentio.message`` event."""
    message = {"locale": rendered.locale, "subject": rendered.subject, "text": rendered.text}
    if rendered.html:
        message["html"] = rendered.html
    data: dict[str, Any] = {
        "delivery_id": delivery_id,
        "reference": reference,
        "campaign": campaign,
        "purpose": purpose,
        "customer": {"external_id": customer},
        "message": message,
    }
    optional = {"link": link, "offer_code": offer_code, "unsubscribe_url": unsubscribe_url}
    data.update({key: value for key, value in optional.items() if value})
    payload = {"type": WEBHOOK_TYPE, "timestamp": sent_at.isoformat(), "data": data}
    return OutgoingWebhook(id=f"msg_{reference}", url=url, payload=payload)


def compose_push(
    rendered: RenderedMessage, *, reference: str, link: str | None, devices: list[PushTarget]
) -> OutgoingPush:
    """The push message of a rendered message, for each of ``devices``."""
    return OutgoingPush(
        reference=reference,
        title=rendered.subject,
        text=rendered.text,
        link=link,
        targets=tuple(devices),
    )
