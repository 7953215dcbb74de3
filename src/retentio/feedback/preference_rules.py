"""Stated (zero-party) preferences: the names a customer can state and the shape of each value.

Pure rules: plain values in, a checked and normalised value (or a :class:`PreferenceError`
naming the field) out; no database, no clock (``today`` is an argument).

=====================  ==============================================================
name                   value
=====================  ==============================================================
``topics``             a list of the shop's topic names (:data:`DEFAULT_TOPICS`, or the
                       shop's own list: ``RETENTIO_PREFERENCE_TOPICS``), in the list's order
``favourite_categories``  a list of up to 20 texts (1-100 characters each)
``preferred_channel``  one of :data:`PREFERRED_CHANNELS` (email, sms, push, in_app)
``frequency``          one of :data:`FREQUENCIES`: as_it_happens, weekly, monthly
``birthday``           ``YYYY-MM-DD`` or ``MM-DD`` (the year is optional)
``sizes``              a mapping kind -> size, e.g. ``{"shoes": "39", "tops": "M"}``
``snooze_until``       ``YYYY-MM-DD``: the last day (inclusive, on the customer's clock)
                       on which no marketing is sent
=====================  ==============================================================

``None`` clears a preference (the customer takes the statement back).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

from retentio.core.errors import ConfigurationError, DataError

__all__ = [
    "DEFAULT_TOPICS",
    "FREQUENCIES",
    "MAX_SNOOZE_DAYS",
    "PREFERENCE_NAMES",
    "PREFERENCE_SOURCES",
    "PREFERRED_CHANNELS",
    "SIZE_KINDS",
    "SNOOZE_DAYS",
    "PreferenceError",
    "Topic",
    "check_preference",
    "parse_topics",
    "snooze_end",
]

#: The preferences a customer can state.
PREFERENCE_NAMES = (
    "birthday",
    "favourite_categories",
    "frequency",
    "preferred_channel",
    "sizes",
    "snooze_until",
    "topics",
)
#: The channels a customer can prefer.
PREFERRED_CHANNELS = ("email", "sms", "push", "in_app")
#: How often a customer wants marketing: ``weekly`` and ``monthly`` are at most one
#: marketing message in 7 and in 30 days (the delivery worker skips the ones over it).
FREQUENCIES = ("as_it_happens", "weekly", "monthly")
#: Where a preference was stated.
PREFERENCE_SOURCES = ("api", "import", "preference_centre", "survey")
#: The snoozes the preference centre offers, in days.
SNOOZE_DAYS = (30, 60, 90)
#: The longest snooze the API accepts (a longer pause is an unsubscription).
MAX_SNOOZE_DAYS = 366
#: The size kinds the preference centre asks for (the API takes any kind name).
SIZE_KINDS = ("tops", "bottoms", "shoes")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH_DAY = re.compile(r"^(?:--)?(\d{2})-(\d{2})$")
_MAX_CATEGORIES = 20
_MAX_CATEGORY_CHARS = 100
_MAX_SIZES = 20
_MAX_SIZE_CHARS = 20
_LANGUAGES = ("da", "en", "nl")


class PreferenceError(DataError):
    """A preference that cannot be stored as given: ``field`` names it (``birthday``,
    ``sizes.shoes``), ``reason`` says what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic of the shop's marketing a customer can choose: its name and its label per
    language (``en`` is the fallback, then the name)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, language: str) -> str:
        """The label in ``language`` (da, en, nl)."""
        return self.labels.get(language) or self.labels.get("en") or self.name


#: The topics when the shop names none.
DEFAULT_TOPICS: tuple[Topic, ...] = (
    Topic(
        "news",
        MappingProxyType(
            {
                "en": "News and inspiration",
                "da": "Nyheder og inspiration",
                "nl": "Nieuws en inspiratie",
            }
        ),
    ),
    Topic(
        "offers",
        MappingProxyType(
            {"en": "Offers and sales", "da": "Tilbud og udsalg", "nl": "Aanbiedingen en uitverkoop"}
        ),
    ),
    Topic(
        "new_arrivals",
        MappingProxyType({"en": "New arrivals", "da": "Nye varer", "nl": "Nieuw binnen"}),
    ),
)


def parse_topics(
    value: Mapping[str, Any] | Sequence[str], *, setting: str = "preference_topics"
) -> tuple[Topic, ...]:
    """The shop's topics from configuration: a list of names (``["news", "offers"]``) or a
    mapping name -> label, or name -> {language: label}; a ConfigurationError names the
    ``setting`` and the topic that is wrong."""
    if isinstance(value, str):
        raise ConfigurationError(f"{setting}: a list of names or a mapping name -> label")
    items = list(value.items()) if isinstance(value, Mapping) else [(n, None) for n in value]
    if not items or len(items) > 50:
        raise ConfigurationError(f"{setting}: 1 to 50 topics")
    topics = []
    for name, labels in items:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(
                f"{setting}: {name!r} is not a topic name "
                "(1-40 lower-case letters, digits and _, starting with a letter)"
            )
        if labels is None:
            labels = {}
        elif isinstance(labels, str):
            labels = {"en": labels}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and k in _LANGUAGES and isinstance(v, str) and 0 < len(v) <= 100
            for k, v in labels.items()
        ):
            raise ConfigurationError(
                f"{setting}.{name}: a label (1-100 characters), or labels by language (da, en, nl)"
            )
        topics.append(Topic(name, MappingProxyType(dict(labels))))
    if len({t.name for t in topics}) != len(topics):
        raise ConfigurationError(f"{setting}: a topic is named twice")
    return tuple(topics)


def _text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise PreferenceError(field, f"expected text, got {type(value).__name__}")
    text = " ".join(value.split())
    if not text or len(text) > limit:
        raise PreferenceError(field, f"1 to {limit} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise PreferenceError(field, "must not contain control characters")
    return text


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise PreferenceError(field, f"one of {', '.join(choices)}, not {value!r}")
    return str(value)


def _topics(value: Any, topics: Sequence[Topic]) -> list[str]:
    if not isinstance(value, list):
        raise PreferenceError("topics", "a list of topic names")
    known = [t.name for t in topics]
    for index, name in enumerate(value):
        if name not in known:
            raise PreferenceError(
                f"topics[{index}]", f"unknown topic {name!r} (known: {', '.join(known)})"
            )
    return [name for name in known if name in value]  # the shop's order, once each


def _categories(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise PreferenceError("favourite_categories", "a list of texts")
    if len(value) > _MAX_CATEGORIES:
        raise PreferenceError("favourite_categories", f"at most {_MAX_CATEGORIES} categories")
    found: dict[str, str] = {}
    for index, item in enumerate(value):
        text = _text(f"favourite_categories[{index}]", item, _MAX_CATEGORY_CHARS)
        found.setdefault(text.casefold(), text)
    return list(found.values())


def _birthday(value: Any, today: date) -> str:
    if not isinstance(value, str):
        raise PreferenceError("birthday", "a date as YYYY-MM-DD or MM-DD")
    full, short = _ISO_DATE.match(value.strip()), _MONTH_DAY.match(value.strip())
    if full is not None:
        try:
            day = date(*(int(part) for part in full.groups()))
        except ValueError:
            raise PreferenceError("birthday", f"not a date: {value!r}") from None
        if day > today or day.year < 1900:
            raise PreferenceError("birthday", "a day from 1900 until today")
        return day.isoformat()
    if short is not None:
        month, day_of_month = (int(part) for part in short.groups())
        if not 1 <= month <= 12 or not 1 <= day_of_month <= calendar.monthrange(2000, month)[1]:
            raise PreferenceError("birthday", f"not a day of the year: {value!r}")
        return f"{month:02d}-{day_of_month:02d}"
    raise PreferenceError("birthday", f"a date as YYYY-MM-DD or MM-DD, not {value!r}")


def _sizes(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise PreferenceError("sizes", 'a mapping of kind to size, e.g. {"shoes": "39"}')
    if len(value) > _MAX_SIZES:
        raise PreferenceError("sizes", f"at most {_MAX_SIZES} kinds")
    sizes = {}
    for kind, size in value.items():
        if not isinstance(kind, str) or not _NAME.match(kind):
            raise PreferenceError(
                "sizes", f"{kind!r} is not a kind (lower-case letters, digits and _)"
            )
        sizes[kind] = _text(f"sizes.{kind}", size, _MAX_SIZE_CHARS)
    return dict(sorted(sizes.items()))


def _snooze(value: Any, today: date) -> str:
    found = _ISO_DATE.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise PreferenceError("snooze_until", f"a date as YYYY-MM-DD, not {value!r}")
    try:
        day = date(*(int(part) for part in found.groups()))
    except ValueError:
        raise PreferenceError("snooze_until", f"not a date: {value!r}") from None
    if day < today:
        raise PreferenceError("snooze_until", "a day from today on (null ends a snooze)")
    if day > today + timedelta(days=MAX_SNOOZE_DAYS):
        raise PreferenceError("snooze_until", f"at most {MAX_SNOOZE_DAYS} days ahead")
    return day.isoformat()


def check_preference(name: str, value: Any, *, topics: Sequence[Topic], today: date) -> Any:
    """``value`` checked and normalised for preference ``name`` (None stays None: it clears
    the preference); a PreferenceError naming the field otherwise."""
    if name not in PREFERENCE_NAMES:
        raise PreferenceError(name, f"unknown preference (known: {', '.join(PREFERENCE_NAMES)})")
    if value is None:
        return None
    if name == "topics":
        return _topics(value, topics)
    if name == "favourite_categories":
        return _categories(value)
    if name == "preferred_channel":
        return _choice(name, value, PREFERRED_CHANNELS)
    if name == "frequency":
        return _choice(name, value, FREQUENCIES)
    if name == "birthday":
        return _birthday(value, today)
    if name == "sizes":
        return _sizes(value)
    return _snooze(value, today)


def snooze_end(today: date, days: int) -> date:
    """The last day of a snooze of ``days`` days (30, 60 or 90) that starts ``today``: the
    rest of today and ``days`` whole days after it."""
    if days not in SNOOZE_DAYS:
        raise PreferenceError("days", f"one of {', '.join(map(str, SNOOZE_DAYS))}, not {days!r}")
    return today + timedelta(days=days)
