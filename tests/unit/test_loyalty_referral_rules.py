"""The referral rules: what a referral earns, the fraud checks that hold it for review, how
postal addresses are compared, and definitions refused naming the path of the problem."""

from __future__ import annotations

from typing import Any

import pytest

from retentio.loyalty import ProgrammeError, parse_programme
from retentio.loyalty.referral_rules import (
    FLAGS,
    Party,
    ReferralRules,
    normalise_postal_address,
    referral_flags,
)

REFERRER = Party(1, email="ida@example.dk", phone="+4520123456", address="norrebrogade 10")
STRANGER = Party(2, email="bob@example.dk", phone="+4531313131", address="vesterbrogade 1")


def flags(friend: Party, *, ordered: bool = False, this_month: int = 0, cap: int = 10) -> list[str]:
    return referral_flags(
        REFERRER, friend, friend_ordered_before=ordered, this_month=this_month, cap=cap
    )


def test_a_clean_referral_raises_no_flag() -> None:
    assert flags(STRANGER) == []
    assert flags(Party(2)) == []  # nothing known about the friend: nothing to compare
    unknown = Party(1)
    assert referral_flags(unknown, Party(2), friend_ordered_before=False, this_month=0, cap=1) == []


@pytest.mark.parametrize(
    ("friend", "kwargs", "expected"),
    [
        (Party(1), {}, ["self"]),
        (Party(2, email="ida@example.dk"), {}, ["same_email"]),
        (Party(2, phone="+4520123456"), {}, ["same_phone"]),
        (Party(2, address="norrebrogade 10"), {}, ["same_address"]),
        (STRANGER, {"ordered": True}, ["already_customer"]),
        (STRANGER, {"this_month": 10}, ["monthly_cap"]),
        (STRANGER, {"this_month": 9}, []),  # the tenth this month is still within a cap of 10
        (STRANGER, {"this_month": 1, "cap": 1}, ["monthly_cap"]),
    ],
)
def test_each_flag(friend: Party, kwargs: dict[str, Any], expected: list[str]) -> None:
    assert flags(friend, **kwargs) == expected


def test_flags_come_in_their_documented_order() -> None:
    same = Party(1, email="ida@example.dk", phone="+4520123456", address="norrebrogade 10")
    everything = flags(same, ordered=True, this_month=10)
    assert everything == list(FLAGS)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Nørrebrogade 10, 2. th., 2200 København N", "  NØRREBROGADE 10 2 TH 2200 KØBENHAVN N"),
        ("Rue de l'Église 5", "rue de l eglise 5"),  # accents and punctuation
        ("Straße 1", "STRASSE 1"),  # casefolded
        (
            {"line1": "Keizersgracht 1", "postcode": "1015 CJ", "city": "Amsterdam"},
            "keizersgracht 1, 1015 CJ amsterdam",
        ),
        ({"line1": "Vej 1", "postcode": 2200}, "vej 1 2200"),  # a number in a mapping
    ],
)
def test_addresses_compare_loosely(one: Any, other: Any) -> None:
    assert normalise_postal_address(one) == normalise_postal_address(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ул. Ленина 5", "ул. Пушкина 5"),  # other scripts are compared, not dropped
        ("Æblevej 5", "Blevej 5"),  # æ is a letter, not punctuation
        ("Vej 1", "Vej 11"),
    ],
)
def test_different_addresses_stay_different(one: str, other: str) -> None:
    assert normalise_postal_address(one) != normalise_postal_address(other)


@pytest.mark.parametrize("value", [None, "", " ,. ", 42, {"line1": None}, {}, ["Vej 1"]])
def test_no_address_to_compare(value: Any) -> None:
    assert normalise_postal_address(value) is None


def test_a_full_definition_and_the_link() -> None:
    programme = parse_programme(
        {
            "currency": "EUR",
            "referrals": {
                "referrer_points": 1000,
                "friend_points": 0,
                "minimum_order": "25.50",
                "monthly_cap": 3,
                "link": "https://butik.example/?ref={code}",
            },
        }
    )
    rules = programme.referrals
    assert rules == ReferralRules(1000, 0, 2550, 3, "https://butik.example/?ref={code}")
    assert rules.link_for("AB34CD67") == "https://butik.example/?ref=AB34CD67"
    assert ReferralRules().link_for("AB34CD67") is None
    assert parse_programme({}).referrals is None
    assert parse_programme({"referrals": {}}).referrals == ReferralRules()


@pytest.mark.parametrize(
    ("referrals", "path"),
    [
        ([], "referrals"),
        ({"bonus": 1}, "referrals.bonus"),
        ({"referrer_points": -1}, "referrals.referrer_points"),
        ({"friend_points": 2.5}, "referrals.friend_points"),
        ({"minimum_order": "lots"}, "referrals.minimum_order"),
        ({"monthly_cap": 0}, "referrals.monthly_cap"),
        ({"link": "https://butik.example/"}, "referrals.link"),  # no {code}
        ({"link": "javascript:alert({code})"}, "referrals.link"),
        ({"link": 7}, "referrals.link"),
    ],
)
def test_problems_are_named_by_path(referrals: Any, path: str) -> None:
    with pytest.raises(ProgrammeError) as caught:
        parse_programme({"referrals": referrals})
    assert caught.value.path == path
