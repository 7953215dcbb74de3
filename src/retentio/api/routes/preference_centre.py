"""The preference centre: ``/p/{token}``, the customer's own page, no login (a signed link in
every message; :mod:`retentio.privacy.preference_links`).

It shows, in the customer's language (their locale; ``?lang=`` overrides): a snooze of
marketing for 30, 60 or 90 days (offered first, as the alternative to unsubscribing), consent
per channel, the topics and the frequency they want, what they tell about themselves, a
one-click unsubscription from all marketing, and the download and erasure of their data.

- **A GET never changes anything** (link scanners and mail previews fetch links). Every
  change is a POST of a form.
- **No cookies, so no cross-site request forgery to guard against with them**: the signed
  token in the address is the authority, and every form carries it again (``token``), which
  must match. A tampered, expired or foreign token changes nothing.
- **Consent goes through the ledger** (:func:`retentio.privacy.record_consent`, source
  ``form``, with the text version and language shown). E-mail marketing granted on a page
  reached from an e-mail counts as confirmed (the link proves the mailbox, as a double
  opt-in's confirmation does); from another channel's link it is not offered.
- **Download and erasure** need a link of the last 7 days, so that an old forwarded
  message cannot; erasure asks for a confirmation first (a tick and a second, signed,
  15-minute form), then erases at once: TRUST.md wants withdrawal as easy as giving, and a
  request nobody acts on would not be.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from retentio.api.deps import DbSession, client_address, limit_by_address
from retentio.api.preference_page import (
    PAGE_CHANNELS,
    PageError,
    about_values,
    error_of,
    main_context,
    render,
)
from retentio.api.preference_texts import TEXTS, long_date
from retentio.api.routes.pages import PAGE_LANGUAGES
from retentio.core.signing import Signer, TokenError
from retentio.core.vocabulary import CONSENT_CHANNELS
from retentio.feedback import (
    SNOOZE_DAYS,
    PreferenceError,
    end_snooze,
    local_today,
    preferences_of,
    set_preferences,
    snooze,
)
from retentio.privacy import (
    ConsentError,
    confirm_double_opt_in,
    current_consents,
    erase_person,
    export_person,
    export_zip,
    record_consent,
    start_double_opt_in,
    withdraw_consent,
)
from retentio.privacy.preference_links import PreferenceToken, read_preference_token
from retentio.store.tables import Customer

__all__ = ["ERASE_PURPOSE", "router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(limit_by_address)])

Lang = Annotated[str | None, Query(pattern="^(da|en|nl)$")]
#: The second, short-lived form that confirms an erasure.
ERASE_PURPOSE = "preferences.erase"
_ERASE_TTL = timedelta(minutes=15)
_ACTOR = "customer"
_SOURCE = "preference_centre"
_DETAIL = "preference centre (/p)"
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
}


@dataclass
class _Visit:
    """An opened page: the verified link, the customer, the language."""

    signer: Signer
    link: PreferenceToken
    customer: Customer
    lang: str
    token: str

    @property
    def action(self) -> str:
        """Where the page's forms post: this address (relative, so a proxy's prefix stays)."""
        return f"?lang={self.lang}"


def _message(
    lang: str, title: str, status: int, *, text: str = "", back: bool = False
) -> HTMLResponse:
    body = render(
        lang=lang, mode="message", title=title, action=f"?lang={lang}", token="", status=text,
        back=back,
    )  # fmt: skip
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _language(lang: str | None, locale: str | None) -> str:
    """``?lang=``, else the customer's locale if the page speaks it, else English."""
    if lang is not None:
        return lang
    primary = (locale or "").split("-")[0].split("_")[0].lower()
    return primary if primary in PAGE_LANGUAGES else "en"


def _open(request: Request, session: Session, token: str, lang: str | None) -> _Visit | Response:
    """The visit, or the page that says why the link does not open."""
    fallback = lang or "en"
    signer: Signer | None = request.app.state.signer
    if signer is None:
        return _message(fallback, TEXTS[fallback]["unavailable"], 503)
    try:
        link = read_preference_token(signer, token)
    except TokenError as error:
        gone = error.reason in ("expired", "used", "unknown")
        return _message(
            fallback, TEXTS[fallback]["expired" if gone else "bad"], 410 if gone else 400
        )
    customer = session.get(Customer, link.customer_id)
    if customer is None:
        return _message(fallback, TEXTS[fallback]["gone"], 410)
    language = _language(lang, customer.locale)
    if customer.erased_at is not None:
        return _message(language, TEXTS[language]["erased"], 410)
    return _Visit(signer, link, customer, language, token)


def _main(
    request: Request,
    session: Session,
    visit: _Visit,
    *,
    status: str = "",
    errors: list[PageError] | None = None,
    sent: FormData | None = None,
    code: int = 200,
) -> HTMLResponse:
    now = datetime.now(UTC)
    session.rollback()  # read what the writes left
    customer = visit.customer
    context = main_context(
        session,
        customer,
        preferences_of(session, customer),
        lang=visit.lang,
        via=visit.link.via,
        topics=request.app.state.config.preference_topics,
        fresh=visit.link.fresh(now),
        today=local_today(customer, now),
        sent=sent,
        errors=errors or [],
    )
    session.rollback()
    t = TEXTS[visit.lang]
    body = render(
        lang=visit.lang, mode="main", title=t["title"], action=visit.action, token=visit.token,
        status=status, errors=errors or [], **context,
    )  # fmt: skip
    return HTMLResponse(body, status_code=code, headers=_HEADERS)


@router.get("/p/{token}")
def preference_centre(
    request: Request, session: DbSession, token: str, lang: Lang = None
) -> Response:
    """The customer's preference centre; showing it changes nothing."""
    visit = _open(request, session, token, lang)
    if isinstance(visit, Response):
        return visit
    return _main(request, session, visit)


async def read_form(request: Request) -> FormData:
    """The page's form (URL-encoded, as a browser sends it)."""
    return await request.form(max_files=0, max_fields=200)


@router.post("/p/{token}")
def change(
    request: Request,
    session: DbSession,
    token: str,
    form: Annotated[FormData, Depends(read_form)],
    lang: Lang = None,
) -> Response:
    """Do what the form asks: snooze, resume, contact choices, details, unsubscribe, download
    or erase. A bad or mismatched token changes nothing."""
    visit = _open(request, session, token, lang)
    if isinstance(visit, Response):
        return visit
    t = TEXTS[visit.lang]
    sent = str(form.get("token") or "")
    if not hmac.compare_digest(sent.encode(), token.encode()):
        return _message(visit.lang, t["bad"], 400)
    action = str(form.get("action") or "")
    session.rollback()  # end the read: each change below writes in its own transaction
    try:
        if action == "snooze":
            return _snooze(request, session, visit, form)
        if action == "resume":
            with request.app.state.write_lock:
                end_snooze(session, visit.customer, source=_SOURCE, actor=_ACTOR)
            return _main(request, session, visit, status=t["resumed"])
        if action == "contact":
            return _contact(request, session, visit, form)
        if action == "about":
            with request.app.state.write_lock:
                set_preferences(
                    session, visit.customer, about_values(form), source=_SOURCE, actor=_ACTOR
                )
            return _main(request, session, visit, status=t["saved"])
        if action == "unsubscribe":
            _withdraw(request, session, visit, CONSENT_CHANNELS)
            return _main(request, session, visit, status=t["unsubscribed"])
        if action in ("export", "erase", "erase_confirm"):
            return _data(request, session, visit, action, form)
    except PreferenceError as error:
        found = error_of(error, visit.lang)
        return _main(request, session, visit, errors=[found], sent=form, code=422)
    except ConsentError:
        errors = [PageError("other", "contact-heading", t["err_other"])]
        return _main(request, session, visit, errors=errors, code=422)
    return _message(visit.lang, t["bad"], 400)


def _snooze(request: Request, session: Session, visit: _Visit, form: FormData) -> Response:
    days = str(form.get("days") or "")
    if days not in {str(n) for n in SNOOZE_DAYS}:
        return _message(visit.lang, TEXTS[visit.lang]["bad"], 400)
    with request.app.state.write_lock:
        done = snooze(session, visit.customer, int(days), source=_SOURCE, actor=_ACTOR)
    until = done.preferences.snoozed_until
    assert until is not None  # noqa: S101 (just set)
    status = TEXTS[visit.lang]["snoozed"].format(date=long_date(until, visit.lang))
    return _main(request, session, visit, status=status)


def _evidence(request: Request) -> tuple[str, str | None]:
    """The client's address and user agent, kept with a consent event."""
    return client_address(request), request.headers.get("user-agent")


def _withdraw(request: Request, session: Session, visit: _Visit, channels: tuple[str, ...]) -> None:
    """Withdraw the customer's marketing consent on ``channels`` where it is held."""
    held = {
        s.channel
        for s in current_consents(session, visit.customer.external_id)
        if s.purpose == "marketing" and s.status in ("granted", "pending")
    }
    session.rollback()
    ip, agent = _evidence(request)
    for channel in sorted(held & set(channels)):
        with request.app.state.write_lock:
            withdraw_consent(
                session, customer=visit.customer.external_id, channel=channel,
                purpose="marketing", recorded_by=_ACTOR, source="form", source_detail=_DETAIL,
                ip_address=ip, user_agent=agent,
            )  # fmt: skip


def _grant(request: Request, session: Session, visit: _Visit, channel: str, version: str) -> None:
    """Grant marketing on ``channel`` with the text ``version`` shown (e-mail: only from an
    e-mail's link, and then confirmed at once: the link proved the mailbox)."""
    customer = visit.customer.external_id
    ip, agent = _evidence(request)
    with request.app.state.write_lock:
        if channel == "email":
            pending = start_double_opt_in(
                session, customer=customer, text_version=version, language=visit.lang,
                source="form", recorded_by=_ACTOR, source_detail=_DETAIL, ip_address=ip,
                user_agent=agent,
            )  # fmt: skip
            confirm_double_opt_in(session, pending.token, ip_address=ip, user_agent=agent)
            return
        record_consent(
            session, customer=customer, channel=channel, purpose="marketing", granted=True,
            source="form", recorded_by=_ACTOR, lawful_basis="consent", source_detail=_DETAIL,
            text_version=version, language=visit.lang, ip_address=ip, user_agent=agent,
        )  # fmt: skip


def _contact(request: Request, session: Session, visit: _Visit, form: FormData) -> Response:
    """Topics and frequency (stated preferences), then consent per channel (the ledger)."""
    values: dict[str, object] = {"topics": [str(v) for v in form.getlist("topic")]}
    if form.get("frequency"):
        values["frequency"] = str(form.get("frequency"))
    with request.app.state.write_lock:
        set_preferences(
            session, visit.customer, values, source=_SOURCE, actor=_ACTOR,
            topics=request.app.state.config.preference_topics,
        )  # fmt: skip
    wanted = {str(v) for v in form.getlist("consent")} & set(PAGE_CHANNELS)
    states = {
        s.channel: s.status
        for s in current_consents(session, visit.customer.external_id)
        if s.purpose == "marketing"
    }
    session.rollback()
    held = {channel for channel, status in states.items() if status in ("granted", "pending")}
    _withdraw(request, session, visit, tuple(sorted(held & set(PAGE_CHANNELS) - wanted)))
    for channel in sorted(wanted - held):
        version = str(form.get(f"text_{channel}") or "")
        if version and (channel != "email" or visit.link.via == "email"):
            _grant(request, session, visit, channel, version)
    return _main(request, session, visit, status=TEXTS[visit.lang]["saved"])


def _data(
    request: Request, session: Session, visit: _Visit, action: str, form: FormData
) -> Response:
    """The download, the erasure's confirmation, and the erasure."""
    t = TEXTS[visit.lang]
    now = datetime.now(UTC)
    if not visit.link.fresh(now):
        return _message(visit.lang, t["data_heading"], 403, text=t["data_old_link"], back=True)
    customer = visit.customer
    if action == "export":
        with request.app.state.write_lock:  # the read is audited
            archive = export_zip(
                export_person(session, customer.external_id, actor=f"{_ACTOR} ({_DETAIL})")
            )
        headers = {**_HEADERS, "Content-Disposition": 'attachment; filename="my-data.zip"'}
        return Response(archive, media_type="application/zip", headers=headers)
    if action == "erase":
        return _confirm_erase(visit)
    try:
        data = visit.signer.verify(ERASE_PURPOSE, str(form.get("confirm") or ""))
    except TokenError:
        return _message(visit.lang, t["erase_expired"], 410, back=True)
    if data.get("c") != customer.id:
        return _message(visit.lang, t["bad"], 400)
    if form.get("understand") != "yes":
        return _confirm_erase(visit, [PageError("understand", "understand", t["erase_needs_tick"])])
    secret: bytes | None = request.app.state.config.secret
    if secret is None:
        return _message(visit.lang, t["unavailable"], 503)
    with request.app.state.write_lock:
        erase_person(
            session,
            secret,
            customer.external_id,
            actor=_ACTOR,
            reason="request (preference centre)",
        )
    return _message(visit.lang, t["erased"], 200)


def _confirm_erase(visit: _Visit, errors: list[PageError] | None = None) -> HTMLResponse:
    t = TEXTS[visit.lang]
    confirm = visit.signer.sign(ERASE_PURPOSE, {"c": visit.customer.id}, _ERASE_TTL)
    body = render(
        lang=visit.lang, mode="confirm_erase", title=t["erase_title"], action=visit.action,
        token=visit.token, errors=errors or [], confirm=confirm,
    )  # fmt: skip
    return HTMLResponse(body, status_code=422 if errors else 200, headers=_HEADERS)
