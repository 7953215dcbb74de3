"""Referral rules: what a referral earns, when it completes, and the fraud checks that hold
it for review. Pure: the service passes in normalised addresses and counts.

::

    referrals:
      referrer_points: 500        # for the customer who referred ...
      friend_points: 250          # ... and for the friend
      minimum_order: 200          # the friend's first order (net) that completes it
      monthly_cap: 10             # referrals per referrer per calendar month before review
      link: https://butik.example/?ref={code}

A referral completes when the friend's first qualifying order has passed the return window
(``pending_days``) without being refunded below the minimum.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from retentio.core.money import minor_unit_exponent
from retentio.loyalty._parse import ProgrammeError, mapping, number, unknown, whole

__all__ = [
    "FLAGS",
    "Party",
    "ReferralRules",
    "normalise_postal_address",
    "parse_referrals",
    "referral_flags",
]

#: Why a referral is held for review (``self`` is refused outright).
FLAGS = ("self", "same_email", "same_phone", "same_address", "already_customer", "monthly_cap")
_KEYS = {"referrer_points", "friend_points", "minimum_order", "monthly_cap", "link"}


@dataclass(frozen=True, slots=True)
class ReferralRules:
    """See the module's docstring."""

    referrer_points: int = 500
    friend_points: int = 250
    minimum_order_minor: int = 0
    monthly_cap: int = 10
    link: str | None = None

    def link_for(self, code: str) -> str | None:
        return None if self.link is None else self.link.replace("{code}", code)


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a referral, as the checks see it: normalised addresses (None if unknown)."""

    customer_id: int
    email: str | None = None
    phone: str | None = None
    address: str | None = None


def referral_flags(
    referrer: Party, friend: Party, *, friend_ordered_before: bool, this_month: int, cap: int
) -> list[str]:
    """The reasons to hold a referral for review, in :data:`FLAGS` order; empty when clean.
    ``this_month`` counts the referrer's referrals this calendar month before this one."""
    flags = []
    if referrer.customer_id == friend.customer_id:
        flags.append("self")
    for flag, mine, theirs in (
        ("same_email", referrer.email, friend.email),
        ("same_phone", referrer.phone, friend.phone),
        ("same_address", referrer.address, friend.address),
    ):
        if mine is not None and mine == theirs:
            flags.append(flag)
    if friend_ordered_before:
        flags.append("already_customer")
    if this_month >= cap:
        flags.append("monthly_cap")
    return flags


def normalise_postal_address(value: Any) -> str | None:
    """A postal address compared loosely: case, accents, punctuation and spacing ignored.
    ``value`` is a text or a mapping of its parts (line1, line2, postcode, city, country)."""
    if isinstance(value, dict):
        parts = [value.get(k) for k in ("line1", "line2", "postcode", "city", "country")]
        value = " ".join(str(p) for p in parts if p)
    if not isinstance(value, str):
        return None
    plain = unicodedata.normalize("NFKD", value.casefold())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    # Letters and digits of any script: a narrower class (a-z) would drop æ, Cyrillic or
    # Greek words and make different addresses equal ("ул. Ленина 5" == "5").
    words = re.findall(r"[^\W_]+", plain)
    return " ".join(words) or None


def parse_referrals(data: Any, currency: str) -> ReferralRules:
    """``referrals``."""
    given = mapping(data, "referrals", "referrer_points, friend_points, minimum_order, ...")
    unknown(given, _KEYS, "referrals.")
    scale = 10 ** minor_unit_exponent(currency)
    link = given.get("link")
    if link is not None and (not isinstance(link, str) or "{code}" not in link):
        raise ProgrammeError("referrals.link", "a URL with {code} where the code goes")
    if link is not None and not link.startswith(("https://", "http://")):
        raise ProgrammeError("referrals.link", "an http(s) URL")
    minimum = number(given.get("minimum_order", 0), "referrals.minimum_order", low=0, high=1e9)
    return ReferralRules(
        referrer_points=whole(
            given.get("referrer_points", 500), "referrals.referrer_points", low=0, high=10**8
        ),
        friend_points=whole(
            given.get("friend_points", 250), "referrals.friend_points", low=0, high=10**8
        ),
        minimum_order_minor=int(minimum * scale),
        monthly_cap=whole(given.get("monthly_cap", 10), "referrals.monthly_cap", low=1, high=10**6),
        link=link,
    )
