"""The subscription policy: when renewals happen, how long a pause may last, the dunning
schedule, and the cancellation reasons with the save offers each one gets. Pure: checked
here, stored in versions by the service.

::

    renewal_time: "06:00"          # the local time a renewal order is made
    max_pause_days: 90             # an open-ended pause resumes after this long
    pause_reminder_days: 3         # pause_ending_soon, days before a pause ends
    dunning: [1, 3, 7, 14]         # retries after a failed payment (days), then cancel
    discount: {percent: 20, cycles: 1, cooldown_days: 100}
    reasons:
      too_expensive: {offers: [discount, cadence, skip], label: {en: Too expensive, ...}}
      ...

The offers: ``pause`` (for ``pause_days``, default 30), ``skip`` (the next order),
``swap`` (another product), ``cadence`` (less often: twice the interval), ``discount``
(``percent`` off the next ``cycles`` orders, at most once per ``cooldown_days``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from retentio.core.errors import DefinitionError

__all__ = [
    "DEFAULT_REASONS",
    "OFFERS",
    "Policy",
    "PolicyError",
    "Reason",
    "parse_policy",
]

OFFERS = ("pause", "skip", "swap", "cadence", "discount")
_LANGUAGES = ("en", "da", "nl")


class PolicyError(DefinitionError):
    """A policy definition that cannot be used; ``path`` names where."""


@dataclass(frozen=True, slots=True)
class Reason:
    """A cancellation reason: its code, its label per language, and the offers it gets."""

    code: str
    label: Mapping[str, str]
    offers: tuple[str, ...]

    def text(self, language: str) -> str:
        return self.label.get(language) or self.label.get("en") or self.code


def _reason(code: str, offers: tuple[str, ...], en: str, da: str, nl: str) -> Reason:
    return Reason(code, {"en": en, "da": da, "nl": nl}, offers)


DEFAULT_REASONS: tuple[Reason, ...] = (
    _reason(
        "too_expensive",
        ("discount", "cadence", "skip"),
        "It is too expensive",
        "Det er for dyrt",
        "Het is te duur",
    ),
    _reason(
        "too_much",
        ("cadence", "skip", "pause"),
        "I have too much of it",
        "Jeg har for meget af det",
        "Ik heb er te veel van",
    ),
    _reason(
        "not_now",
        ("pause", "skip"),
        "I don't need it right now",
        "Jeg har ikke brug for det lige nu",
        "Ik heb het nu niet nodig",
    ),
    _reason(
        "product",
        ("swap", "discount"),
        "I didn't like the product",
        "Jeg kunne ikke lide produktet",
        "Het product beviel me niet",
    ),
    _reason(
        "moving",
        ("pause",),
        "I am moving or travelling",
        "Jeg flytter eller rejser",
        "Ik verhuis of ga op reis",
    ),
    _reason("other", ("pause",), "Something else", "Noget andet", "Iets anders"),
)


@dataclass(frozen=True, slots=True)
class Policy:
    """A checked policy (see the module's docstring)."""

    renewal_time: time = time(6, 0)
    max_pause_days: int = 90
    pause_days: int = 30
    pause_reminder_days: int = 3
    dunning_days: tuple[int, ...] = (1, 3, 7, 14)
    discount_percent: int = 20
    discount_cycles: int = 1
    discount_cooldown_days: int = 100
    reasons: tuple[Reason, ...] = field(default=DEFAULT_REASONS)

    def reason(self, code: str) -> Reason | None:
        return next((r for r in self.reasons if r.code == code), None)


_KEYS = {
    "renewal_time",
    "max_pause_days",
    "pause_days",
    "pause_reminder_days",
    "dunning",
    "discount",
    "reasons",
}


def _whole(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyError(path, f"a whole number from {low} to {high}")
    return value


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(path, "a mapping")
    return value


def _unknown(data: Mapping[str, Any], known: set[str], prefix: str = "") -> None:
    extra = sorted(str(k) for k in set(data) - known)
    if extra:
        raise PolicyError(f"{prefix}{extra[0]}", f"unknown key; known: {', '.join(sorted(known))}")


def parse_policy(data: Any) -> Policy:
    """Check a decoded policy; a :class:`PolicyError` names the path of the first problem."""
    given = _mapping(data, "policy")
    _unknown(given, _KEYS)
    at = given.get("renewal_time", "06:00")
    try:
        renewal = time.fromisoformat(str(at))
    except ValueError:
        raise PolicyError("renewal_time", "a local time such as 06:00") from None
    dunning = given.get("dunning", [1, 3, 7, 14])
    if not isinstance(dunning, list) or not dunning:
        raise PolicyError("dunning", "a list of days after the failed payment, e.g. [1, 3, 7, 14]")
    days = tuple(_whole(d, f"dunning[{n}]", 1, 90) for n, d in enumerate(dunning))
    if list(days) != sorted(set(days)):
        raise PolicyError("dunning", "days rising, each once")
    discount = _mapping(given.get("discount", {}), "discount")
    _unknown(discount, {"percent", "cycles", "cooldown_days"}, "discount.")
    return Policy(
        renewal_time=renewal.replace(second=0, microsecond=0),
        max_pause_days=_whole(given.get("max_pause_days", 90), "max_pause_days", 1, 730),
        pause_days=_whole(given.get("pause_days", 30), "pause_days", 1, 365),
        pause_reminder_days=_whole(
            given.get("pause_reminder_days", 3), "pause_reminder_days", 1, 60
        ),
        dunning_days=days,
        discount_percent=_whole(discount.get("percent", 20), "discount.percent", 1, 100),
        discount_cycles=_whole(discount.get("cycles", 1), "discount.cycles", 1, 24),
        discount_cooldown_days=_whole(
            discount.get("cooldown_days", 100), "discount.cooldown_days", 0, 3650
        ),
        reasons=_reasons(given.get("reasons")),
    )


def _reasons(value: Any) -> tuple[Reason, ...]:
    if value is None:
        return DEFAULT_REASONS
    given = _mapping(value, "reasons")
    if not given:
        raise PolicyError("reasons", "at least one reason")
    found = []
    for code, item in given.items():
        path = f"reasons.{code}"
        if not isinstance(code, str) or not code.replace("_", "").isalnum() or len(code) > 50:
            raise PolicyError(path, "a code of letters, digits and _ (at most 50)")
        reason = _mapping(item, path)
        _unknown(reason, {"offers", "label"}, f"{path}.")
        offers = reason.get("offers", [])
        if not isinstance(offers, list) or any(o not in OFFERS for o in offers):
            raise PolicyError(f"{path}.offers", f"a list of {', '.join(OFFERS)}")
        label = reason.get("label", {"en": code.replace("_", " ").capitalize()})
        label = _mapping(label, f"{path}.label")
        for language, text in label.items():
            if language not in _LANGUAGES or not isinstance(text, str) or not text.strip():
                raise PolicyError(f"{path}.label.{language}", "a text, in en, da or nl")
        found.append(Reason(code, dict(label), tuple(dict.fromkeys(offers))))
    return tuple(found)
