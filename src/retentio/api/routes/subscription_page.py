"""The customer's subscription page, no login: ``/s/{token}`` (a signed link, 90 days by
default: :mod:`retentio.subscriptions.links`).

A GET shows the subscription (products, how often, the next order's date and amount, status,
a pause's end, skipped orders, a discount) and a form for each action its state allows: pause
(for a number of orders, until a date, or until resumed up to the policy's longest pause),
resume (now or on a date), call off a planned pause, skip one of the coming orders, move the
next order, change quantities or how often, swap a product, order now, cancel. A GET changes
nothing: link scanners and mail previews fetch links.

Every form POSTs to the same address with its ``action`` and a random one-time ``nonce``,
which is the action's idempotency key: a double click, a reload's "send again?" or the back
button finds the key in the subscription's history and changes nothing ("done already").
The answer to a POST is rendered directly rather than redirected (POST-redirect-GET): a
redirect would carry the confirmation in its URL or a cookie and log the token-bearing path
once more, and what a reload repeats is harmless because of the nonce.

Cancelling is the flow of :func:`retentio.subscriptions.cancel_subscription`: the customer
picks a reason (the policy's, with their labels) and may write a note; the next page shows
the save offers of that reason (recorded as shown), each with its button, and "Cancel
anyway" (which records them declined); the answer says what was done.

The page speaks English, Danish or Dutch: ``?lang=``, else the customer's locale, else
English; its texts (``templates/subscription/texts.json``) cover dates and amounts too.
Every control has a label, choices sit in fieldsets with legends, and nothing needs
JavaScript. The forms are ``novalidate``: the server checks every field and shows a problem
in the page's language next to the field (``role="alert"``, ``aria-invalid``,
``aria-describedby``, focused), changing nothing. A tampered token, or one for another
purpose, answers 400; an expired one 410; a subscription whose customer was erased 410.
Answers carry a Content-Security-Policy without scripts and ``noindex``; the page is
rate-limited per client address.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from retentio.api.deps import DbSession, limit_by_address
from retentio.api.subscription_page_texts import (
    Texts,
    html_page,
    message_page,
    page_language,
)
from retentio.core.clock import SystemClock
from retentio.core.errors import DataError
from retentio.core.signing import Signer, TokenError
from retentio.privacy.errors import NotFoundError
from retentio.subscriptions import (
    UNITS,
    Cadence,
    Policy,
    SubscriptionStateError,
    SubscriptionView,
    cancel_subscription,
    change_subscription,
    current_policy,
    order_now,
    pause_subscription,
    resume_subscription,
    skip_order,
    swap_product,
)
from retentio.subscriptions.links import (
    LinkedSubscription,
    offers_now,
    open_subscription,
    read_subscription_token,
)

__all__ = ["CADENCE_LIMITS", "router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(limit_by_address)])

Lang = Annotated[str | None, Query(pattern="^(da|en|nl)$")]
#: The longest interval per unit (as :meth:`Cadence.checked` allows; a test keeps them equal).
CADENCE_LIMITS = {"day": 365, "week": 52, "month": 24}
_ACTOR = "customer"
_OPEN = ("active", "paused", "past_due")
_STATUSES = (*_OPEN, "cancelled", "expired")
_HORIZON = timedelta(days=366)  # how far ahead the actions take a date
T = TypeVar("T")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE = re.compile(r"[0-9]{1,6}")


class _Invalid(Exception):
    """A field the customer filled in that cannot be used: shown next to it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


class _BadForm(Exception):
    """A form the page did not make (a missing nonce, an unknown action or offer)."""


@dataclass(frozen=True)
class _Visit:
    """One request: the subscription as it was read, in the page's language."""

    request: Request
    session: Session
    subscription_id: int
    lang: str
    now: datetime
    policy: Policy
    linked: LinkedSubscription

    @property
    def t(self) -> Texts:
        return Texts(self.lang)

    @property
    def body(self) -> dict[str, Any]:
        return self.linked.view.body

    @property
    def products(self) -> list[str]:
        return [str(item["product"]) for item in self.body["items"]]

    def reload(self) -> _Visit:
        linked = open_subscription(self.session, self.subscription_id, now=self.now)
        self.session.rollback()  # end the read
        return replace(self, linked=linked)

    def offers(self, reason: str) -> list[dict[str, Any]]:
        """The save offers ``reason`` gets now, recording nothing."""
        found = offers_now(self.session, self.policy, self.subscription_id, reason, now=self.now)
        self.session.rollback()
        return found

    def act(self, use_case: Callable[..., T], key: str, **given: Any) -> T:
        """Run ``use_case`` on the subscription once per ``key`` (the form's nonce), under
        the server's write lock; rolled back if it fails."""
        with self.request.app.state.write_lock:
            try:
                return use_case(
                    self.session, self.policy, self.subscription_id, key=key, now=self.now,
                    actor=_ACTOR, **given,
                )  # fmt: skip
            except Exception:
                self.session.rollback()
                raise


def _visit(
    request: Request, session: Session, token: str, lang: str | None
) -> _Visit | HTMLResponse:
    """The visit a token opens, or the page saying why it opens nothing."""
    t = Texts(page_language(lang, None))
    signer: Signer | None = request.app.state.signer
    if signer is None:
        return message_page(t.lang, t("unavailable"), "", 503)
    try:
        subscription_id = read_subscription_token(signer, token)
    except TokenError as error:
        if error.reason == "expired":
            return message_page(t.lang, t("expired"), t("expired_text"), 410)
        return message_page(t.lang, t("bad"), "", 400)
    now = SystemClock().now()
    try:
        linked = open_subscription(session, subscription_id, now=now)
    except NotFoundError:
        session.rollback()
        return message_page(t.lang, t("gone"), "", 410)
    policy = current_policy(session)
    session.rollback()  # end the read: the actions take their own write transaction
    language = page_language(lang, linked.locale)
    return _Visit(request, session, subscription_id, language, now, policy, linked)


def _page(
    visit: _Visit,
    *,
    status: int = 200,
    notice: str = "",
    alert: str = "",
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The subscription with its forms; ``notice`` confirms what was done, ``alert`` and
    ``errors`` (by field) say what could not be."""
    t, today, body = visit.t, visit.linked.today, visit.body
    return html_page(
        "page.html",
        status,
        lang=visit.lang,
        title=t("title"),
        t=t,
        sub=body,
        coming=visit.linked.coming,
        reasons=[(r.code, r.text(visit.lang)) for r in visit.policy.reasons],
        max_pause_days=visit.policy.max_pause_days,
        units=UNITS,
        limits=CADENCE_LIMITS,
        tomorrow=(today + timedelta(days=1)).isoformat(),
        horizon=(today + _HORIZON).isoformat(),
        pause_last=(today + timedelta(days=visit.policy.max_pause_days)).isoformat(),
        action=f"?lang={visit.lang}",
        nonce=_nonce,
        notice=notice,
        alert=alert,
        errors=errors or {},
        values=values or {},
    )


def _offers_page(
    visit: _Visit,
    reason: str,
    note: str | None,
    offers: list[dict[str, Any]],
    *,
    status: int = 200,
    alert: str = "",
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The second step of cancelling: the offers of ``reason``, and "Cancel anyway"."""
    t = visit.t
    label = next((r.text(visit.lang) for r in visit.policy.reasons if r.code == reason), reason)
    return html_page(
        "offers.html",
        status,
        lang=visit.lang,
        title=t("offers_title"),
        t=t,
        reason=reason,
        reason_label=label,
        note=note or "",
        offers=offers,
        products=visit.products,
        action=f"?lang={visit.lang}",
        nonce=_nonce,
        alert=alert,
        errors=errors or {},
        values=values or {},
    )


def _nonce() -> str:
    return secrets.token_urlsafe(24)


# -- reading the forms --------------------------------------------------------------------


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _whole(form: FormData, name: str, low: int, high: int, message: str) -> int:
    raw = _text(form, name)
    if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise _Invalid(name, message)
    return int(raw)


def _day(visit: _Visit, form: FormData, name: str, last: date | None = None) -> date:
    """A date after the customer's today, at most a year ahead (and not after ``last``)."""
    t, today, raw = visit.t, visit.linked.today, _text(form, name)
    try:
        day = date.fromisoformat(raw) if _DAY.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None:
        raise _Invalid(name, t("err_date"))
    if day <= today:
        raise _Invalid(name, t("err_future"))
    if last is not None and day > last:
        days = (last - today).days
        raise _Invalid(name, t("err_pause_max", days=days, date=t.date(last)))
    if day > today + _HORIZON:
        raise _Invalid(name, t("err_horizon"))
    return day


def _reason(visit: _Visit, form: FormData, *, asked: bool) -> tuple[str, str | None]:
    """The cancellation reason and note; when they come back from the offers page
    (``asked``), a problem means the form was not the page's."""
    reason, note = _text(form, "reason"), _text(form, "cancel-note")
    if visit.policy.reason(reason) is None:
        if asked:
            raise _BadForm
        raise _Invalid("reason", visit.t("err_choose"))
    if len(note) > 1000:
        if asked:
            raise _BadForm
        raise _Invalid("cancel-note", visit.t("err_note"))
    return reason, note or None


# -- the actions: each answers the confirmation, or a page of its own ------------------------


def _done(visit: _Visit, view: SubscriptionView, key: str, **values: Any) -> str:
    return visit.t("done_repeated") if view.repeated else visit.t(key, **values)


def _pause(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    t, how = visit.t, _text(form, "pause-how")
    until = cycles = None
    if how == "cycles":
        cycles = _whole(form, "pause-cycles", 1, 12, t("err_cycles"))
    elif how == "until":
        last = visit.linked.today + timedelta(days=visit.policy.max_pause_days)
        until = _day(visit, form, "pause-until", last)
    elif how != "open":
        raise _Invalid("pause-how", t("err_choose"))
    view = visit.act(pause_subscription, key, until=until, cycles=cycles)
    return _done(visit, view, "done_pause", date=t.date(view.body["pause_until"]))


def _resume(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    when, planned = _text(form, "resume-when"), visit.body["status"] == "active"
    if when not in ("now", "on"):
        raise _Invalid("resume-when", visit.t("err_choose"))
    on = _day(visit, form, "resume-on") if when == "on" else None
    view = visit.act(resume_subscription, key, on=on)
    if planned:
        return _done(visit, view, "done_call_off")
    if view.body["status"] == "active":
        return _done(visit, view, "done_resume", date=visit.t.date(view.body["next_order_on"]))
    return _done(visit, view, "done_resume_later", date=visit.t.date(view.body["pause_until"]))


def _skip(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    raw = _text(form, "skip-on")
    day = next((d for d in visit.linked.coming if d.isoformat() == raw), None)
    if day is None:
        raise _Invalid("skip-on", visit.t("err_choose"))
    view = visit.act(skip_order, key, on=day)
    return _done(visit, view, "done_skip", date=visit.t.date(day))


def _order_now(visit: _Visit, _form: FormData, key: str) -> str | HTMLResponse:
    view = visit.act(order_now, key)
    return _done(visit, view, "done_order_now")


def _quantity(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    current = {str(i["product"]): int(i["quantity"]) for i in visit.body["items"]}
    changed: dict[str, int] = {}
    for n in range(len(current)):
        product = _text(form, f"product-{n}")
        quantity = _whole(form, f"quantity-{n}", 1, 1000, visit.t("err_quantity"))
        if product not in current:
            raise _BadForm
        if quantity != current[product]:
            changed[product] = quantity
    if not changed:
        raise _Invalid("quantity-0", visit.t("err_nothing"))
    view = visit.act(change_subscription, key, quantities=changed)
    return _done(visit, view, "done_quantity")


def _cadence(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    t, unit = visit.t, _text(form, "cadence-unit")
    if unit not in CADENCE_LIMITS:
        raise _Invalid("cadence-unit", t("err_choose"))
    high = CADENCE_LIMITS[unit]
    count = _whole(form, "cadence-count", 1, high, t("err_count", high=high))
    cadence = Cadence.checked(unit, count)
    if cadence.to_dict() == visit.body["cadence"]:
        raise _Invalid("cadence-count", t("err_nothing"))
    view = visit.act(change_subscription, key, cadence=cadence)
    return _done(visit, view, "done_cadence", cadence=t.cadence(cadence.unit, cadence.count))


def _move(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    day = _day(visit, form, "date-on")
    view = visit.act(change_subscription, key, next_order_on=day)
    return _done(visit, view, "done_date", date=visit.t.date(day))


def _new_product(visit: _Visit, form: FormData, name: str) -> str:
    to = _text(form, name)
    if not 1 <= len(to) <= 200:
        raise _Invalid(name, visit.t("err_product"))
    if to in visit.products:
        raise _Invalid(name, visit.t("err_product_present"))
    return to


def _swap_product(
    session: Session, _policy: Policy, subscription_id: int, **given: Any
) -> SubscriptionView:
    return swap_product(session, subscription_id, **given)


def _swap(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    product = _text(form, "swap-product")
    if product not in visit.products:
        raise _Invalid("swap-product", visit.t("err_choose"))
    to = _new_product(visit, form, "swap-to")
    view = visit.act(_swap_product, key, product=product, to=to)
    return _done(visit, view, "done_swap", product=product, to=to)


def _cancel(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    """The first step: the reason's offers, recorded as shown."""
    reason, note = _reason(visit, form, asked=False)
    outcome = visit.act(cancel_subscription, key, reason=reason, note=note)
    offers = outcome.offers
    if outcome.subscription.repeated:  # shown already: show them again, recording nothing
        if outcome.subscription.body["status"] not in _OPEN:
            return visit.t("done_repeated")
        offers = visit.offers(reason)
    return _offers_page(visit, reason, note, offers)


def _accept(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    """An offer taken instead of cancelling."""
    t = visit.t
    reason, note = _reason(visit, form, asked=True)
    offer, swap_from, swap_to = _text(form, "offer"), None, None
    if offer not in ("pause", "skip", "swap", "cadence", "discount"):
        raise _BadForm
    before = visit.body
    try:
        if offer == "swap":
            several = len(visit.products) > 1
            swap_from = _text(form, "offer-swap-from") if several else visit.products[0]
            if swap_from not in visit.products:
                raise _Invalid("offer-swap-from", t("err_choose"))
            swap_to = _new_product(visit, form, "offer-swap-to")
        outcome = visit.act(
            cancel_subscription, key, reason=reason, note=note, accept=offer,
            swap_from=swap_from, swap_to=swap_to,
        )  # fmt: skip
    except _Invalid as invalid:
        errors = {invalid.field: invalid.message}
        values = {name: _text(form, name) for name in ("offer-swap-from", "offer-swap-to")}
        offers = visit.offers(reason)
        return _offers_page(visit, reason, note, offers, status=422, errors=errors, values=values)
    except DataError:  # no longer offered (a discount taken meanwhile, the state changed)
        offers = visit.offers(reason)
        return _offers_page(visit, reason, note, offers, status=409, alert=t("err_offer_gone"))
    view = outcome.subscription
    if view.repeated:
        return t("done_repeated")
    return f"{t('done_offer')} {_taken(t, offer, before, view.body, (swap_from, swap_to))}"


def _taken(
    t: Texts,
    offer: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    swap: tuple[str | None, str | None],
) -> str:
    """What taking ``offer`` did, in words."""
    if offer == "pause":
        return t("done_pause", date=t.date(after["pause_until"]))
    if offer == "skip":
        return t("done_skip", date=t.date(before["next_order_on"]))
    if offer == "cadence":
        return t("done_cadence", cadence=t.cadence(**after["cadence"]))
    if offer == "discount":
        return t("done_discount", discount=t.discount(**after["discount"]))
    return t("done_swap", product=swap[0], to=swap[1])


def _confirm(visit: _Visit, form: FormData, key: str) -> str | HTMLResponse:
    """Cancel anyway: the offers shown are recorded as declined."""
    reason, note = _reason(visit, form, asked=True)
    outcome = visit.act(cancel_subscription, key, reason=reason, note=note, confirm=True)
    return _done(visit, outcome.subscription, "done_cancel")


_ACTIONS: dict[str, Callable[[_Visit, FormData, str], str | HTMLResponse]] = {
    "pause": _pause,
    "resume": _resume,
    "skip": _skip,
    "order_now": _order_now,
    "quantity": _quantity,
    "cadence": _cadence,
    "date": _move,
    "swap": _swap,
    "cancel": _cancel,
    "accept": _accept,
    "confirm": _confirm,
}
#: The states in which the page offers an action: a field's problem in another state is
#: an old page's form, answered with the state (a repeated nonce is "done already" first).
_OFFERED = {
    "pause": ("active",),
    "skip": ("active",),
    "order_now": ("active",),
    "date": ("active",),
    "resume": ("active", "paused"),
    "quantity": _OPEN,
    "cadence": _OPEN,
    "swap": _OPEN,
}
#: Where a use case's DataError belongs on the page, by the field it names (a fallback: the
#: page checks what it can first, in the customer's language).
_FIELDS = {
    "until": "pause-until",
    "cycles": "pause-cycles",
    "product": "swap-product",
    "to": "swap-to",
    "quantities": "quantity-0",
    "cadence": "cadence-count",
    "next_order_on": "date-on",
    "reason": "reason",
    "note": "cancel-note",
}
_ON_FIELDS = {"resume": "resume-on", "skip": "skip-on"}


def _field_of(action: str, error: DataError) -> str | None:
    name = str(error).split(":", 1)[0].split(".", 1)[0]
    return _ON_FIELDS.get(action) if name == "on" else _FIELDS.get(name)


# -- the routes ------------------------------------------------------------------------------


@router.get("/s/{token}")
def subscription_page(
    request: Request, session: DbSession, token: str, lang: Lang = None
) -> HTMLResponse:
    """The subscription and its forms; nothing changes."""
    visit = _visit(request, session, token, lang)
    return visit if isinstance(visit, HTMLResponse) else _page(visit)


async def _read_form(request: Request) -> FormData:
    """The page's form (URL-encoded, as a browser sends it)."""
    return await request.form(max_files=0, max_fields=100)


@router.post("/s/{token}")
def subscription_action(
    request: Request,
    session: DbSession,
    token: str,
    form: Annotated[FormData, Depends(_read_form)],
    lang: Lang = None,
) -> HTMLResponse:
    """Do the form's action once per nonce; answer the page with what was done, or the
    problem next to its field (nothing changed)."""
    visit = _visit(request, session, token, lang)
    if isinstance(visit, HTMLResponse):
        return visit
    t, action, key = visit.t, _text(form, "action"), _text(form, "nonce")
    handler = _ACTIONS.get(action)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k not in ("nonce", "action")}
    try:
        if handler is None or not _NONCE.fullmatch(key):
            raise _BadForm
        answer = handler(visit, form, key)
    except _BadForm:
        return message_page(visit.lang, t("err_form"), "", 400)
    except _Invalid as invalid:
        if visit.body["status"] in _OFFERED.get(action, _STATUSES):
            return _page(visit, status=422, errors={invalid.field: invalid.message}, values=values)
        visit = visit.reload()  # an old page's form: the state is the problem, not the field
        status = t.status(visit.body["status"])
        return _page(visit, status=409, alert=t("err_state", status=status))
    except SubscriptionStateError:
        visit = visit.reload()
        status = t.status(visit.body["status"])
        return _page(visit, status=409, alert=t("err_state", status=status))
    except NotFoundError:
        return message_page(visit.lang, t("gone"), "", 410)
    except DataError as error:
        field = _field_of(action, error)
        if field is None:
            return _page(visit.reload(), status=422, alert=t("err_field"))
        return _page(visit, status=422, errors={field: t("err_field")}, values=values)
    if isinstance(answer, HTMLResponse):
        return answer
    return _page(visit.reload(), notice=answer)
