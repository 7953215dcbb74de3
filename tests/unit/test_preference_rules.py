"""The checks of stated preferences: each value's shape, normalised, errors naming the field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from retentio.bootstrap import Settings
from retentio.campaigns.guards import PREFERRED_FREQUENCY_CAPS
from retentio.core.errors import ConfigurationError
from retentio.feedback import (
    DEFAULT_TOPICS,
    FREQUENCIES,
    PREFERRED_CHANNELS,
    PreferenceError,
    check_preference,
    parse_topics,
    snooze_end,
)
from retentio.segments import FIELDS, SegmentError, parse_definition

TODAY = date(2026, 12, 3)


def check(name: str, value: Any) -> Any:
    return check_preference(name, value, topics=DEFAULT_TOPICS, today=TODAY)


def test_values_are_normalised() -> None:
    assert check("topics", ["offers", "news", "offers"]) == ["news", "offers"]  # the shop's order
    assert check("topics", []) == []
    assert check("favourite_categories", ["  Running  shoes ", "running shoes", "Tents"]) == [
        "Running shoes",
        "Tents",
    ]
    assert check("preferred_channel", "sms") == "sms"
    assert check("frequency", "weekly") == "weekly"
    assert check("birthday", "1990-02-28") == "1990-02-28"
    assert check("birthday", "02-29") == "02-29"
    assert check("birthday", "--12-24") == "12-24"
    assert check("sizes", {"tops": " M ", "shoes": "39"}) == {"shoes": "39", "tops": "M"}
    assert check("snooze_until", "2026-12-03") == "2026-12-03"
    assert check("snooze_until", "2027-12-04") == "2027-12-04"  # 366 days ahead
    for name in ("topics", "birthday", "sizes", "snooze_until"):
        assert check(name, None) is None  # clears the preference


@pytest.mark.parametrize(
    ("name", "value", "field", "reason"),
    [
        ("colour", "blue", "colour", "unknown preference"),
        ("topics", "news", "topics", "a list"),
        ("topics", ["news", "gossip"], "topics[1]", "unknown topic 'gossip'"),
        ("favourite_categories", ["ok", ""], "favourite_categories[1]", "1 to 100"),
        ("favourite_categories", ["x" * 101], "favourite_categories[0]", "1 to 100"),
        ("favourite_categories", [f"c{n}" for n in range(21)], "favourite_categories", "20"),
        ("favourite_categories", ["a\x00b"], "favourite_categories[0]", "control"),
        ("favourite_categories", [3], "favourite_categories[0]", "expected text"),
        ("preferred_channel", "fax", "preferred_channel", "one of email, sms, push, in_app"),
        ("frequency", "daily", "frequency", "one of as_it_happens, weekly, monthly"),
        ("birthday", "2026-12-04", "birthday", "until today"),
        ("birthday", "1899-12-31", "birthday", "from 1900"),
        ("birthday", "1990-02-30", "birthday", "not a date"),
        ("birthday", "02-30", "birthday", "not a day of the year"),
        ("birthday", "13-01", "birthday", "not a day of the year"),
        ("birthday", "24 December", "birthday", "YYYY-MM-DD or MM-DD"),
        ("birthday", 19900101, "birthday", "YYYY-MM-DD or MM-DD"),
        ("sizes", ["M"], "sizes", "a mapping"),
        ("sizes", {"Shoe Size": "39"}, "sizes", "not a kind"),
        ("sizes", {"shoes": ""}, "sizes.shoes", "1 to 20"),
        ("sizes", {"shoes": 39}, "sizes.shoes", "expected text"),
        ("snooze_until", "2026-12-02", "snooze_until", "from today on"),
        ("snooze_until", "2027-12-05", "snooze_until", "at most 366 days"),
        ("snooze_until", "next week", "snooze_until", "YYYY-MM-DD"),
        ("snooze_until", "2026-02-30", "snooze_until", "not a date"),
    ],
)
def test_a_bad_value_names_its_field(name: str, value: Any, field: str, reason: str) -> None:
    with pytest.raises(PreferenceError) as caught:
        check(name, value)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{field}: ")


def test_a_snooze_covers_today_and_the_whole_days_after() -> None:
    assert snooze_end(TODAY, 30) == date(2027, 1, 2)
    assert snooze_end(TODAY, 90) == date(2027, 3, 3)
    with pytest.raises(PreferenceError, match="days: one of 30, 60, 90"):
        snooze_end(TODAY, 7)


def test_the_shops_topics_come_from_configuration() -> None:
    topics = parse_topics({"running": {"en": "Running", "da": "Løb"}, "hiking": "Hiking"})
    assert [t.name for t in topics] == ["running", "hiking"]
    assert topics[0].label("da") == "Løb"
    assert topics[0].label("nl") == "Running"  # English when the language has none
    assert topics[1].label("da") == "Hiking"
    assert [t.label("en") for t in parse_topics(["tents"])] == ["tents"]
    assert check_preference("topics", ["hiking"], topics=topics, today=TODAY) == ["hiking"]
    with pytest.raises(PreferenceError, match="unknown topic 'news'"):
        check_preference("topics", ["news"], topics=topics, today=TODAY)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "1 to 50 topics"),
        ("news", "a list of names"),
        (["News"], "'News' is not a topic name"),
        ({"news": {"de": "Neues"}}, "preference_topics.news"),
        ({"news": ""}, "preference_topics.news"),
        (["news", "news"], "named twice"),
    ],
)
def test_bad_topic_configuration_is_refused(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_topics(value)


def test_the_segment_fields_know_the_same_values() -> None:
    """Segments may not import feedback: their copies of the names must not drift."""
    assert FIELDS["preferred_channel"].choices == PREFERRED_CHANNELS
    assert FIELDS["frequency"].choices == FREQUENCIES
    # Campaigns may not import feedback either: the worker caps every frequency but one.
    assert set(PREFERRED_FREQUENCY_CAPS) == set(FREQUENCIES) - {"as_it_happens"}


@pytest.mark.parametrize(
    ("where", "path", "words"),
    [
        ({"topics": "offers"}, "where.topics.eq", "unknown operator for a list field"),
        ({"topics": {"contains": 3}}, "where.topics.contains", "must be text"),
        ({"frequency": "daily"}, "where.frequency.eq", "unknown value 'daily'"),
        ({"preferred_channel": {"contains": "sms"}}, "where.preferred_channel.contains", "use"),
    ],
)
def test_bad_preference_conditions_name_their_path(
    where: dict[str, Any], path: str, words: str
) -> None:
    with pytest.raises(SegmentError) as caught:
        parse_definition({"name": "s", "where": where})
    assert caught.value.path == path
    assert words in str(caught.value)


def test_the_setting_is_read_as_json_and_named_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTIO_PREFERENCE_TOPICS", '{"running": {"en": "Running", "da": "Løb"}}')
    assert [(t.name, t.label("da")) for t in Settings(_env_file=None).topics()] == [
        ("running", "Løb")
    ]
    monkeypatch.setenv("RETENTIO_PREFERENCE_TOPICS", '["news", "Offers"]')
    with pytest.raises(ConfigurationError, match="RETENTIO_PREFERENCE_TOPICS: 'Offers'"):
        Settings(_env_file=None).topics()
    monkeypatch.delenv("RETENTIO_PREFERENCE_TOPICS")
    assert Settings(_env_file=None).topics() == DEFAULT_TOPICS
