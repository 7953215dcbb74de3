"""The preference centre's page model: what ``/p/{token}`` shows a customer (their consents,
topics, frequency, snooze and stated details, in their language), and what its forms ask for.

Rendered by ``templates/preference_centre.html`` (Jinja2 from the package, autoescaped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jinja2
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from retentio.api.preference_texts import MONTHS, TEXTS, long_date
from retentio.feedback import (
    FREQUENCIES,
    PREFERRED_CHANNELS,
    SIZE_KINDS,
    SNOOZE_DAYS,
    PreferenceError,
    StatedPreferences,
    Topic,
)
from retentio.privacy import ConsentTextInfo, current_consents, list_texts
from retentio.store.tables import Customer

__all__ = [
    "PAGE_CHANNELS",
    "PageError",
    "about_values",
    "consent_texts",
    "error_of",
    "main_context",
    "render",
]

#: The channels whose marketing consent the page shows.
PAGE_CHANNELS = ("email", "sms", "push")

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("retentio.api", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class PageError:
    """An error the page announces: ``key`` names the control's error (``error-<key>``),
    ``target`` the control the link in the summary moves to."""

    key: str
    target: str
    text: str


@dataclass
class About:
    """The "about you" form's values: as stored, or as sent when they had an error."""

    preferred: str = ""
    categories: str = ""
    month: int | None = None
    day: int | None = None
    year: str = ""
    sizes: dict[str, str] = field(default_factory=dict)


def consent_texts(session: Session, lang: str) -> dict[str, ConsentTextInfo]:
    """The newest published marketing consent text of each channel in ``lang``: what the
    page shows beside the box, and records with a grant."""
    found: dict[str, ConsentTextInfo] = {}
    for text in list_texts(session, language=lang):
        if text.purpose != "marketing" or text.channel not in PAGE_CHANNELS:
            continue
        known = found.get(text.channel)
        stamp = (text.published_at.timestamp() if text.published_at else 0.0, text.id)
        if known is None or stamp > (
            known.published_at.timestamp() if known.published_at else 0.0,
            known.id,
        ):
            found[text.channel] = text
    return found


def _about_stored(stated: StatedPreferences) -> About:
    values = stated.values
    about = About(
        preferred=str(values.get("preferred_channel") or ""),
        categories=", ".join(values.get("favourite_categories") or []),
        sizes=dict(values.get("sizes") or {}),
    )
    birthday = values.get("birthday")
    if isinstance(birthday, str):
        parts = birthday.split("-")
        if len(parts) == 3:
            about.year = parts[0]
        about.month, about.day = int(parts[-2]), int(parts[-1])
    return about


def _about_sent(form: FormData) -> About:
    def number(name: str) -> int | None:
        value = str(form.get(name) or "")
        return int(value) if value.isdigit() and len(value) <= 2 else None

    kinds = {str(k)[5:] for k in form if str(k).startswith("size_")}
    return About(
        preferred=str(form.get("preferred_channel") or ""),
        categories=str(form.get("favourite_categories") or ""),
        month=number("birthday_month"),
        day=number("birthday_day"),
        year=str(form.get("birthday_year") or ""),
        sizes={kind: str(form.get(f"size_{kind}") or "") for kind in sorted(kinds)},
    )


def about_values(form: FormData) -> dict[str, Any]:
    """The stated preferences the "about you" form sends (an empty field clears one); a
    PreferenceError names the field of a birthday that is only half given."""
    about = _about_sent(form)
    categories = [part.strip() for part in about.categories.split(",") if part.strip()]
    birthday: str | None = None
    year = about.year.strip()
    if about.month is not None or about.day is not None or year:
        if about.month is None or about.day is None:
            raise PreferenceError("birthday", "give the month and the day")
        birthday = f"{about.month:02d}-{about.day:02d}"
        if year:
            birthday = f"{year}-{birthday}"
    sizes = {kind: size.strip() for kind, size in about.sizes.items() if size.strip()}
    return {
        "preferred_channel": about.preferred or None,
        "favourite_categories": categories or None,
        "birthday": birthday,
        "sizes": sizes or None,
    }


def error_of(error: PreferenceError, lang: str) -> PageError:
    """The page's wording of a preference error, pointing at its control."""
    t = TEXTS[lang]
    if error.field.startswith("favourite_categories"):
        return PageError("categories", "categories", t["err_categories"])
    if error.field.startswith("birthday"):
        return PageError("birthday-month", "birthday-month", t["err_birthday"])
    if error.field.startswith("sizes"):
        kind = error.field.partition(".")[2] or SIZE_KINDS[0]
        return PageError("sizes", f"size-{kind}", t["err_sizes"])
    return PageError("other", "top", t["err_other"])


def _channels(
    session: Session,
    customer: Customer,
    lang: str,
    via: str | None,
    texts: Mapping[str, ConsentTextInfo],
) -> list[dict[str, Any]]:
    t = TEXTS[lang]
    states = {
        s.channel: s.status
        for s in current_consents(session, customer.external_id)
        if s.purpose == "marketing"
    }
    rows = []
    for channel in PAGE_CHANNELS:
        status = states.get(channel, "none")
        text = texts.get(channel)
        held = status in ("granted", "pending")
        grantable = text is not None and (channel != "email" or via == "email")
        note = t["pending"] if status == "pending" else ""
        if not held and not grantable:
            note = t["email_elsewhere"] if channel == "email" and text else t["not_offered"]
        rows.append(
            {
                "channel": channel,
                "label": t[f"channel_{channel}"],
                "checked": held,
                "enabled": held or grantable,
                "about": " ".join(
                    part
                    for part in (note, text.text if text and (held or grantable) else "")
                    if part
                ),
                "text_version": text.version if text is not None and grantable else "",
            }
        )
    return rows


def render(
    *,
    lang: str,
    mode: str,
    title: str,
    action: str,
    token: str,
    status: str = "",
    errors: Sequence[PageError] = (),
    **extra: Any,
) -> str:
    """The page's HTML: ``mode`` is ``main`` (the whole centre), ``confirm_erase`` or
    ``message`` (a title and ``status``)."""
    context = {
        "lang": lang,
        "t": TEXTS[lang],
        "mode": mode,
        "title": title,
        "action": action,
        "token": token,
        "status": status,
        "errors": list(errors),
        "back": False,
        "confirm": "",
    }
    return _environment.get_template("preference_centre.html").render(context | extra)


def main_context(
    session: Session,
    customer: Customer,
    stated: StatedPreferences,
    *,
    lang: str,
    via: str | None,
    topics: Sequence[Topic],
    fresh: bool,
    today: date,
    sent: FormData | None = None,
    errors: Sequence[PageError] = (),
) -> dict[str, Any]:
    """What the main page shows: ``sent`` is the "about you" form as sent, shown again when
    it had ``errors``."""
    t = TEXTS[lang]
    values = stated.values
    chosen_topics = values.get("topics")
    frequency = values.get("frequency")
    until = stated.snoozed_until
    about = _about_sent(sent) if sent is not None and errors else _about_stored(stated)
    kinds = [*SIZE_KINDS, *sorted(k for k in about.sizes if k not in SIZE_KINDS)]
    return {
        "channels": _channels(session, customer, lang, via, consent_texts(session, lang)),
        "topics": [
            {
                "name": topic.name,
                "label": topic.label(lang),
                "checked": chosen_topics is None or topic.name in chosen_topics,
            }
            for topic in topics
        ],
        "frequencies": [
            {"value": f, "label": t[f"freq_{f}"], "checked": f == frequency} for f in FREQUENCIES
        ],
        "preferred": [
            {"value": "", "label": t["no_preference"], "checked": not about.preferred},
            *(
                {"value": c, "label": t[f"channel_{c}"], "checked": c == about.preferred}
                for c in PREFERRED_CHANNELS
            ),
        ],
        "about": {
            "categories": about.categories,
            "month": about.month,
            "day": about.day,
            "year": about.year,
            "sizes": [
                {
                    "kind": kind,
                    "label": t.get(f"size_{kind}", kind.replace("_", " ")),
                    "value": about.sizes.get(kind, ""),
                }
                for kind in kinds
            ],
        },
        "months": MONTHS[lang],
        "invalid": {error.key for error in errors},
        "snooze_days": SNOOZE_DAYS,
        "snoozed": t["snoozed"].format(date=long_date(until, lang))
        if until is not None and until >= today
        else "",
        "fresh": fresh,
    }
