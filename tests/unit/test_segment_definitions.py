"""Segment definitions: what parses into what, and errors that name the path of the problem."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from retentio.segments import (
    FIELDS,
    AllOf,
    AnyOf,
    Compare,
    ConsentCondition,
    EventCondition,
    Not,
    SegmentError,
    parse_definition,
)


def where(condition: Any, **top: Any) -> Any:
    return parse_definition({"name": "s", **top, "where": condition}).where


def test_the_issue_example_parses_into_its_parts() -> None:
    definition = parse_definition(
        {
            "name": "lapsing-repeat-buyers",
            "description": "bought twice, P(alive) below 0.4, consented to email",
            "where": {
                "all": [
                    {"order_count": {"gte": 2}},
                    {"p_alive": {"lt": 0.4}},
                    {"consent": {"channel": "email", "purpose": "marketing"}},
                ]
            },
        }
    )
    assert definition.where == AllOf(
        (
            Compare("order_count", "gte", 2),
            Compare("p_alive", "lt", 0.4),
            ConsentCondition("email", "marketing"),
        )
    )
    assert definition.fields() == {"order_count", "p_alive"}
    assert definition.sources() == {"orders", "scores", "consents"}


def test_shorthands_and_several_operators() -> None:
    assert where({"country": "dk"}) == Compare("country", "eq", "DK")
    assert where({"country": ["DK", "NL"]}) == Compare("country", "in", ("DK", "NL"))
    assert where({"order_count": {"gte": 2, "lt": 5}}) == AllOf(
        (Compare("order_count", "gte", 2), Compare("order_count", "lt", 5))
    )
    assert where({"not": {"any": [{"locale": "da-DK"}, {"email": {"exists": True}}]}}) == Not(
        AnyOf((Compare("locale", "eq", "da-DK"), Compare("email", "exists", True)))
    )


def test_values_are_converted_for_the_query() -> None:
    assert where({"total_spend": {"gte": "499.95"}}, currency="dkk") == Compare(
        "total_spend", "gte", 49995
    )
    assert where({"total_spend": {"gte": 500}}, currency="JPY") == Compare(
        "total_spend", "gte", 500
    )
    assert where({"created_at": {"after": "2026-01-31"}}) == Compare(
        "created_at", "after", datetime(2026, 1, 31, tzinfo=UTC)
    )
    assert where({"created_at": {"before": "2026-01-31T10:00:00+01:00"}}) == Compare(
        "created_at", "before", datetime(2026, 1, 31, 9, tzinfo=UTC)
    )
    assert where({"attributes.vip": True}) == Compare("attributes.vip", "eq", True)
    assert where(
        {"event": {"name": "viewed", "within_days": 7, "properties": {"sku": "A", "n": 2}}}
    ) == EventCondition("viewed", 1, 7, (("n", 2), ("sku", "A")))


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ([], "definition", "a mapping"),
        ({"where": {"country": "DK"}}, "name", "required"),
        ({"name": "has space", "where": {}}, "name", "letters, digits"),
        ({"name": "s", "where": {"country": "DK"}, "owner": "x"}, "owner", "unknown key"),
        ({"name": "s"}, "where", "required"),
        ({"name": "s", "currency": "kroner", "where": {"country": "DK"}}, "currency", "ISO 4217"),
        ({"name": "s", "where": {"p_aliv": {"lt": 1}}}, "where.p_aliv", "unknown field 'p_aliv'"),
        (
            {"name": "s", "where": {"all": [{"country": "DK"}, {"orders": 2}]}},
            "where.all[1].orders",
            "unknown field",
        ),
        ({"name": "s", "where": {"all": []}}, "where.all", "non-empty list"),
        ({"name": "s", "where": {"country": "DK", "locale": "da"}}, "where", "one key"),
        ({"name": "s", "where": {"order_count": {"above": 2}}}, "where.order_count.above", "gte"),
        ({"name": "s", "where": {"order_count": {"gte": 1.5}}}, "where.order_count.gte", "whole"),
        ({"name": "s", "where": {"order_count": {"gte": -1}}}, "where.order_count.gte", "from 0"),
        ({"name": "s", "where": {"order_count": {"gte": 10**12}}}, "order_count.gte", "from 0"),
        ({"name": "s", "where": {"p_alive": {"lt": 1e300}}}, "where.p_alive.lt", "10^15"),
        ({"name": "s", "where": {"locale": "da\x00"}}, "where.locale.eq", "NUL"),
        (
            {"name": "s", "where": {"event": {"name": "x", "properties": {'a"b': 1}}}},
            "where.event.properties",
            "property name",
        ),
        ({"name": "s", "where": {"p_alive": {"lt": "high"}}}, "where.p_alive.lt", "a number"),
        ({"name": "s", "where": {"p_alive": {"lt": "NaN"}}}, "where.p_alive.lt", "finite"),
        ({"name": "s", "where": {"total_spend": {"gt": 5}}}, "where.total_spend.gt", "currency"),
        (
            {"name": "s", "where": {"rfm_segment": "Champs"}},
            "where.rfm_segment.eq",
            "unknown value 'Champs'",
        ),
        ({"name": "s", "where": {"p_alive": {"between": [0.5, 0.1]}}}, "between", "above"),
        ({"name": "s", "where": {"created_at": {"after": "yesterday"}}}, "after", "ISO 8601"),
        ({"name": "s", "where": {"created_at": {"after": "2026-01-01T10:00"}}}, "after", "offset"),
        ({"name": "s", "where": {"email": "a@b.c"}}, "where.email.eq", "unknown operator"),
        ({"name": "s", "where": {"email": {"exists": "yes"}}}, "exists", "true or false"),
        ({"name": "s", "where": {"event": {"at_least": 2}}}, "where.event.name", "required"),
        (
            {"name": "s", "where": {"event": {"name": "x", "within": 7}}},
            "where.event.within",
            "unknown key",
        ),
        (
            {"name": "s", "where": {"event": {"name": "x", "at_least": 0}}},
            "where.event.at_least",
            "from 1",
        ),
        ({"name": "s", "where": {"consent": {"channel": "fax"}}}, "consent.channel", "one of"),
        (
            {"name": "s", "where": {"consent": {"channel": "sms", "purpose": "ads"}}},
            "consent.purpose",
            "one of",
        ),
        ({"name": "s", "where": {"attributes.": 1}}, "where.attributes.", "attribute name"),
        ({"name": "s", "where": {"attributes.t": {"after": "2026-01-01"}}}, "after", "operator"),
        ({"name": "s", "where": {"attributes.t": ["a", 1]}}, "attributes.t.in", "mixes"),
        ({"name": "s", "where": {"attributes.t": {"between": ["a", 1]}}}, "between", "mixes"),
        (
            {"name": "s", "where": {"days_since_last_order": {"gte": 1_000_000}}},
            "days_since_last_order.gte",
            "36,600",
        ),
    ],
)
def test_errors_name_the_path_of_the_problem(data: Any, path: str, message: str) -> None:
    with pytest.raises(SegmentError) as raised:
        parse_definition(data)
    assert path in raised.value.path
    assert message in str(raised.value)


def test_a_definition_nested_too_deep_is_refused() -> None:
    condition: Any = {"country": "DK"}
    for _ in range(25):
        condition = {"not": condition}
    with pytest.raises(SegmentError, match="too complex"):
        parse_definition({"name": "deep", "where": condition})


def test_every_field_has_a_meaning_and_known_operators() -> None:
    for name, field in FIELDS.items():
        assert field.name == name and field.help
        parse_definition({"name": "s", "currency": "DKK", "where": {name: {"exists": True}}})
