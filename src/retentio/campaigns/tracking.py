"""Opens and clicks of e-mail, for the funnel and for each customer's best hour.

A campaign that asks for it (``tracking: {opens: true, clicks: true}``) gets, per message:

- **an open pixel**: a 1x1 GIF at ``<public url>/t/o/<token>`` at the end of the HTML;
- **click links**: every ``http(s)`` link of the HTML and the text, except the unsubscribe
  link, becomes ``<public url>/t/c/<token>``, which redirects to the original.

The token is signed (:class:`retentio.core.signing.Signer`) and carries the delivery's id and,
for a click, the URL to go to: the redirect goes only where a message of ours pointed, so it
is no open redirect, and a token that was changed redirects nowhere.

**Machine opens and clicks** are recorded apart (``machine_open``, ``machine_click``) and
count neither in the funnel nor for the best hour: a hit with no user agent or the user agent
of a bot, link scanner or HTTP library; one from Apple's Mail Privacy Protection proxy (which
fetches every image of every message it receives, read or not: Apple's 17.0.0.0/8 with the
bare ``Mozilla/5.0`` agent it uses); and one less than :data:`MACHINE_SECONDS` after the
message was sent (security gateways open and click within seconds of delivery).

Tracking is off unless a campaign asks for it: in Denmark and the Netherlands, as elsewhere
in the EU, reading whether a person opened a message falls under the ePrivacy rules on
terminal equipment, and needs the customer's consent (see docs/campaigns.md).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from datetime import datetime, timedelta
from html import escape, unescape

from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.campaigns.outbox import record_event
from retentio.campaigns.templates import RenderedMessage
from retentio.core.signing import Signer, TokenError
from retentio.store.campaign_tables import Delivery

__all__ = [
    "CLICK_PURPOSE",
    "MACHINE_SECONDS",
    "OPEN_PURPOSE",
    "PIXEL_GIF",
    "click_target",
    "machine_reason",
    "record_click",
    "record_open",
    "track_message",
]

OPEN_PURPOSE = "track.open"
CLICK_PURPOSE = "track.click"
#: Links in old messages keep working (as unsubscribe links do): ten years.
TOKEN_TTL = timedelta(days=3650)
#: A hit sooner than this after sending is a machine's (a scanner at the receiving server).
MACHINE_SECONDS = 2.0
#: The smallest transparent GIF.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_BOTS = re.compile(
    r"bot\b|bot/|crawler|spider|scanner|python|curl|wget|go-http|java/|okhttp|libwww|httpclient"
    r"|barracuda|mimecast|proofpoint|ironport|symantec|safelinks|trendmicro|forcepoint"
    r"|microsoft office protection|linkexpand|headless",
    re.IGNORECASE,
)
_APPLE = ipaddress.ip_network("17.0.0.0/8")


def track_message(
    rendered: RenderedMessage,
    *,
    signer: Signer,
    delivery_id: int,
    base_url: str,
    opens: bool,
    clicks: bool,
    keep: tuple[str, ...] = (),
) -> RenderedMessage:
    """``rendered`` with click links and an open pixel as asked; links in ``keep`` (the
    unsubscribe link) are left as they are."""
    html, text = rendered.html, rendered.text

    def click(url: str) -> str:
        if url in keep:
            return url
        token = signer.sign(CLICK_PURPOSE, {"d": delivery_id, "u": url}, TOKEN_TTL)
        return f"{base_url}/t/c/{token}"

    if clicks:
        html = _HREF.sub(
            lambda m: f"{m[1]}{m[2]}{escape(click(unescape(m[3])))}{m[2]}",
            html,
        )
        text = _TEXT_URL.sub(lambda m: click(m[0]), text)
    if opens and html:
        token = signer.sign(OPEN_PURPOSE, {"d": delivery_id}, TOKEN_TTL)
        pixel = f'<img src="{base_url}/t/o/{token}" width="1" height="1" alt="" style="border:0">'
        html = html.replace("</body>", pixel + "</body>") if "</body>" in html else html + pixel
    return replace(rendered, html=html, text=text)


def machine_reason(
    user_agent: str | None, address: str | None, *, sent_at: datetime | None, now: datetime
) -> str | None:
    """Why a hit is a machine's, or None for a person's (see the module's docstring)."""
    agent = (user_agent or "").strip()
    if not agent:
        return "no user agent"
    if _BOTS.search(agent):
        return "a bot or link scanner"
    if agent == "Mozilla/5.0" and address:
        try:
            if ipaddress.ip_address(address) in _APPLE:
                return "Apple Mail Privacy Protection"
        except ValueError:
            pass
    if sent_at is not None and (now - sent_at).total_seconds() < MACHINE_SECONDS:
        return "within seconds of sending"
    return None


def _hit(
    session: Session,
    delivery_id: int,
    kind: str,
    *,
    user_agent: str | None,
    address: str | None,
    now: datetime,
    detail: str | None,
) -> bool:
    """Record an open or a click of the delivery (committed); False when it is unknown."""
    sent_at = session.scalar(select(Delivery.sent_at).where(Delivery.id == delivery_id))
    if sent_at is None:  # no such delivery, or never sent (a forged id cannot get here)
        return False
    reason = machine_reason(user_agent, address, sent_at=sent_at, now=now)
    if reason is None:
        record_event(session, delivery_id, kind, at=now, detail=detail)
    else:
        record_event(session, delivery_id, f"machine_{kind[:-2]}", at=now, detail=reason)
    session.commit()
    return True


def record_open(
    session: Session,
    signer: Signer,
    token: str,
    *,
    user_agent: str | None,
    address: str | None,
    now: datetime,
) -> bool:
    """Record the open a pixel's token names; False for a token that is not ours."""
    try:
        data = signer.verify(OPEN_PURPOSE, token)
    except TokenError:
        return False
    return _hit(
        session,
        int(data["d"]),
        "opened",
        user_agent=user_agent,
        address=address,
        now=now,
        detail=None,
    )


def click_target(signer: Signer, token: str) -> tuple[int, str] | None:
    """The delivery and the URL a click token names; None for a token that is not ours."""
    try:
        data = signer.verify(CLICK_PURPOSE, token)
    except TokenError:
        return None
    url = str(data.get("u", ""))
    if not url.startswith(("https://", "http://")):
        return None
    return int(data["d"]), url


def record_click(
    session: Session,
    signer: Signer,
    token: str,
    *,
    user_agent: str | None,
    address: str | None,
    now: datetime,
) -> str | None:
    """Record the click a link's token names and return where it goes; None for a token that
    is not ours (then nothing redirects)."""
    target = click_target(signer, token)
    if target is None:
        return None
    delivery_id, url = target
    _hit(
        session,
        delivery_id,
        "clicked",
        user_agent=user_agent,
        address=address,
        now=now,
        detail=url[:500],
    )
    return url
