"""The customer's own pages, no login: confirm a double opt-in, withdraw consent in one click.

A GET only shows a page with a button: link scanners and mail previews fetch links, and must
not confirm or withdraw anything. The button POSTs. ``POST /u/{token}`` is also the RFC 8058
one-click target (``List-Unsubscribe-Post: List-Unsubscribe=One-Click``): it needs no cookie,
answers 200 and never redirects. Pages are rate-limited per client address.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from retentio.api.deps import DbSession, client_address, limit_by_address
from retentio.core.signing import Signer, TokenError
from retentio.privacy import confirm_double_opt_in, withdraw_with_token

__all__ = ["PAGE_LANGUAGES", "router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(limit_by_address)])

PAGE_LANGUAGES = ("da", "en", "nl")
Lang = Annotated[str, Query(pattern="^(da|en|nl)$")]

_TEXT = {
    "en": {
        "confirm_title": "Confirm your subscription",
        "confirm_ask": "Press the button to confirm that you want our e-mails.",
        "confirm_button": "Confirm",
        "confirmed": "Thank you: your subscription is confirmed.",
        "withdraw_title": "Unsubscribe",
        "withdraw_ask": "Press the button to stop receiving these messages.",
        "withdraw_button": "Unsubscribe",
        "withdrawn": "You are unsubscribed. You will not receive these messages again.",
        "bad": "This link is not valid",
        "expired": "This link has expired or was already used",
    },
    "da": {
        "confirm_title": "Bekræft din tilmelding",
        "confirm_ask": "Tryk på knappen for at bekræfte, at du vil modtage vores e-mails.",
        "confirm_button": "Bekræft",
        "confirmed": "Tak: din tilmelding er bekræftet.",
        "withdraw_title": "Afmeld",
        "withdraw_ask": "Tryk på knappen for ikke længere at modtage disse beskeder.",
        "withdraw_button": "Afmeld",
        "withdrawn": "Du er afmeldt og modtager ikke disse beskeder igen.",
        "bad": "Linket er ikke gyldigt",
        "expired": "Linket er udløbet eller allerede brugt",
    },
    "nl": {
        "confirm_title": "Bevestig je aanmelding",
        "confirm_ask": "Druk op de knop om te bevestigen dat je onze e-mails wilt ontvangen.",
        "confirm_button": "Bevestigen",
        "confirmed": "Dank je: je aanmelding is bevestigd.",
        "withdraw_title": "Afmelden",
        "withdraw_ask": "Druk op de knop om deze berichten niet meer te ontvangen.",
        "withdraw_button": "Afmelden",
        "withdrawn": "Je bent afgemeld en ontvangt deze berichten niet meer.",
        "bad": "Deze link is niet geldig",
        "expired": "Deze link is verlopen of al gebruikt",
    },
}


def _page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    headers = {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'",
        "X-Frame-Options": "DENY",
    }
    return HTMLResponse(document, status_code=status, headers=headers)


def _form(lang: str, ask: str, button: str) -> str:
    return (
        f"<p>{html.escape(ask)}</p>"
        f'<form method="post" action="?lang={lang}">'
        f'<button type="submit">{html.escape(button)}</button></form>'
    )


def _refused(lang: str, error: TokenError) -> HTMLResponse:
    text = _TEXT[lang]
    gone = error.reason in ("expired", "used", "unknown")
    title = text["expired"] if gone else text["bad"]
    return _page(lang, title, "", status=410 if gone else 400)


@router.get("/consent/confirm/{token}")
def confirm_page(token: str, lang: Lang = "en") -> HTMLResponse:
    """The confirmation page: a button, nothing confirmed yet."""
    text = _TEXT[lang]
    del token  # checked when the button is pressed
    return _page(
        lang, text["confirm_title"], _form(lang, text["confirm_ask"], text["confirm_button"])
    )


@router.post("/consent/confirm/{token}")
def confirm(request: Request, session: DbSession, token: str, lang: Lang = "en") -> HTMLResponse:
    """Confirm the double opt-in (single use)."""
    try:
        with request.app.state.write_lock:
            confirm_double_opt_in(
                session,
                token,
                ip_address=client_address(request),
                user_agent=request.headers.get("user-agent"),
            )
    except TokenError as error:
        return _refused(lang, error)
    return _page(lang, _TEXT[lang]["confirmed"], "")


@router.get("/u/{token}")
def withdraw_page(token: str, lang: Lang = "en") -> HTMLResponse:
    """The unsubscribe page: a button; a GET never unsubscribes (scanners prefetch links)."""
    text = _TEXT[lang]
    del token
    return _page(
        lang, text["withdraw_title"], _form(lang, text["withdraw_ask"], text["withdraw_button"])
    )


@router.post("/u/{token}")
def withdraw(request: Request, session: DbSession, token: str, lang: Lang = "en") -> HTMLResponse:
    """Withdraw the consent the signed token names, at once (RFC 8058 one-click too)."""
    signer: Signer | None = request.app.state.signer
    if signer is None:
        return _page(lang, _TEXT[lang]["bad"], "", status=503)
    try:
        with request.app.state.write_lock:
            withdraw_with_token(
                session,
                signer,
                token,
                ip_address=client_address(request),
                user_agent=request.headers.get("user-agent"),
            )
    except TokenError as error:
        return _refused(lang, error)
    return _page(lang, _TEXT[lang]["withdrawn"], "")
