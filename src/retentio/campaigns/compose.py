"""From a rendered message to what a channel sends: an e-mail with a stable Message-ID and,
for marketing, the RFC 8058 one-click unsubscribe headers and a visible unsubscribe link.

The visible link is the template's own when it shows ``{{ unsubscribe_url }}``; otherwise a
short footer in the message's language is added to the text and the HTML, so no marketing
message goes out without one (TRUST.md, "Sending").
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from html import escape

from retentio.campaigns.templates import RenderedMessage
from retentio.channels.email import OutgoingEmail
from retentio.core.errors import ConfigurationError

__all__ = ["compose_email", "message_id", "sender_domain"]

_FOOTER = {
    "da": "Vil du ikke have flere e-mails fra os? Afmeld her:",
    "nl": "Geen e-mails meer van ons ontvangen? Meld je hier af:",
    "en": "Don't want these e-mails any more? Unsubscribe:",
}


def sender_domain(sender: str) -> str:
    """The domain of the From address (``Butik <shop@butik.dk>`` -> ``butik.dk``)."""
    _name, address = parseaddr(sender)
    domain = address.rpartition("@")[2]
    if "@" not in address or not domain:
        raise ConfigurationError(f"RETENTIO_MAIL_FROM: not an e-mail address: {sender!r}")
    return domain


def message_id(delivery_id: int, source: str, domain: str) -> str:
    """The delivery's Message-ID: the same on every try, unique per delivery."""
    return f"<{delivery_id}.{source.replace(':', '-')}@{domain}>"


def _footer(locale: str) -> str:
    return _FOOTER.get(locale.split("-")[0].lower(), _FOOTER["en"])


def compose_email(
    rendered: RenderedMessage,
    *,
    recipient: str,
    sender: str,
    message_id: str,
    unsubscribe_url: str | None,
    sent_at: datetime,
) -> OutgoingEmail:
    """The e-mail of a rendered message; ``unsubscribe_url`` (marketing) adds the headers and,
    where the template shows no link, a footer with one."""
    text, html = rendered.text, rendered.html
    if unsubscribe_url:
        footer = _footer(rendered.locale)
        if unsubscribe_url not in text:
            text = f"{text.rstrip()}\n\n--\n{footer} {unsubscribe_url}\n"
        if html and escape(unsubscribe_url) not in html and unsubscribe_url not in html:
            link = f'<p style="font-size:12px;color:#666">{escape(footer)} '
            link += f'<a href="{escape(unsubscribe_url)}">{escape(unsubscribe_url)}</a></p>'
            html = html.replace("</body>", link + "</body>") if "</body>" in html else html + link
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
