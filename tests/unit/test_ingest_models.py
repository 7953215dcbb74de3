"""The ingest item schemas on their own: validation, normalisation and exact money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from retentio.ingest import BatchRejected, BatchResult, CustomerIn, ItemError, OrderIn
from retentio.ingest.results import keep_last, validate_items


def order(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "external_id": "O1",
        "customer_id": "C1",
        "ordered_at": "2026-03-01T10:00:00+01:00",
        "currency": "EUR",
        "total": "12.50",
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


def errors_of(model: Any, item: Any) -> list[tuple[str, str]]:
    _, errors = validate_items(model, [item])
    return [(e.field, e.message) for e in errors]


def test_a_customer_is_normalised() -> None:
    customer = CustomerIn.model_validate(
        {
            "external_id": 1234,
            "email": " Anna@Example.DK ",
            "phone": "20 12 34 56",
            "country": "dk",
            "locale": "da_DK",
            "time_zone": "Europe/Copenhagen",
            "attributes": {"vip": True},
        }
    )
    assert customer.external_id == "1234"
    assert customer.email == "anna@example.dk"
    assert customer.phone == "+4520123456"
    assert customer.country == "DK"
    assert customer.locale == "da-DK"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"email": "not-an-address"}, "email", "not an e-mail address"),
        ({"phone": "12"}, "phone", "not a valid phone number"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "IANA time zone"),
        ({"country": "XX"}, "country", "ISO 3166"),
        ({"locale": "d@"}, "locale", "language tag"),
        ({"attributes": {"big": "x" * 20_000}}, "attributes", "at most 16,384"),
        ({"attributes": [1, 2]}, "attributes", "dictionary"),
        ({"nickname": "Bo"}, "nickname", "not a known field"),
        ({"external_id": ""}, "external_id", "at least 1"),
        ({"external_id": "x" * 201}, "external_id", "at most 200"),
    ],
)
def test_bad_customer_fields_are_named(changes: dict[str, Any], field: str, words: str) -> None:
    found = errors_of(CustomerIn, {"external_id": "C1", **changes})
    assert len(found) == 1, found
    assert found[0][0] == field
    assert words in found[0][1]


def test_an_order_total_becomes_exact_minor_units() -> None:
    assert OrderIn.model_validate(order(total=12.1)).total_minor() == 1210
    assert OrderIn.model_validate(order(total="0.30")).total_minor() == 30
    assert OrderIn.model_validate(order(total=1500, currency="jpy")).total_minor() == 1500
    assert OrderIn.model_validate(order(total="1.234", currency="KWD")).total_minor() == 1234
    exact_zeros = "1." + "0" * 40  # more digits than decimal's 28, but exactly 1
    assert OrderIn.model_validate(order(total=exact_zeros)).total_minor() == 100
    lines = [{"amount": "1.235"}, {"amount": 2}]
    kwd = OrderIn.model_validate(order(total="3.235", currency="kwd", lines=lines))
    assert kwd.minor_amounts() == (3235, [1235, 2000])
    assert OrderIn.model_validate(order(total=1500, currency="JPY")).minor_amounts() == (1500, [])
    parsed = OrderIn.model_validate(order())
    assert parsed.ordered_at == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert parsed.total == Decimal("12.50")
    assert parsed.status == "completed"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"total": "12.505"}, "total", "more decimals than EUR allows (2)"),
        ({"total": "10.5", "currency": "JPY"}, "total", "more decimals than JPY allows (0)"),
        ({"total": "-1"}, "total", "must not be negative"),
        ({"total": "ten"}, "total", "not an amount"),
        ({"total": True}, "total", "JSON number"),
        ({"total": "NaN"}, "total", "not a finite amount"),
        ({"total": "1E+99999999"}, "total", "less than or equal to"),  # no arithmetic overflow
        ({"total": "20000000000000.00"}, "total", "more than retentio stores"),
        ({"total": "1." + "0" * 40 + "1"}, "total", "more decimals than EUR"),  # not rounded
        ({"lines": [{"amount": "-1E-999999"}]}, "lines[0].amount", "more decimals"),
        ({"currency": "E1R"}, "currency", "not an ISO 4217 currency code such as EUR: 'E1R'"),
        ({"status": "shipped"}, "status", "completed"),
        (
            {"ordered_at": "2026-03-01T10:00:00"},
            "ordered_at",
            "give a time zone offset, e.g. 2026-03-01T10:00:00+01:00",
        ),
        ({"ordered_at": "0001-01-01T00:00:00+01:00"}, "ordered_at", "greater than or equal"),
        ({"ordered_at": "0169-04-14T00:00:00Z"}, "ordered_at", "greater than or equal to 1900"),
        ({"ordered_at": "2200-01-01T00:00:00Z"}, "ordered_at", "less than 2200"),
        ({"lines": [{"amount": "1", "quantity": 0}]}, "lines[0].quantity", "greater than"),
        ({"lines": [{"amount": "1.001"}]}, "lines[0].amount", "more decimals"),
        (
            {"refunds": [{"refunded_at": "2026-03-02T10:00:00Z", "amount": "0"}]},
            "refunds[0].amount",
            "more than 0",
        ),
        (
            {"refunds": [{"refunded_at": "2026-03-02T10:00:00", "amount": "1"}]},
            "refunds[0].refunded_at",
            "time zone offset",
        ),
        (
            {"refunds": [{"refunded_at": "2026-03-02T10:00:00Z", "amount": "20"}]},
            "refunds",
            "exceed the total",
        ),
        ({"customer_id": None}, "customer_id", "is required"),
    ],
)
def test_bad_order_fields_are_named(changes: dict[str, Any], field: str, words: str) -> None:
    found = errors_of(OrderIn, order(**changes))
    assert [f for f, _ in found] == [field], found
    assert words in found[0][1]


def test_items_are_validated_one_by_one_and_reported_by_index() -> None:
    items: list[Any] = [order(), "garbage", None, order(external_id="O2", total="x"), order()]
    valid, errors = validate_items(OrderIn, items)
    assert [index for index, _ in valid] == [0, 4]
    assert [(e.index, e.field) for e in errors] == [(1, ""), (2, ""), (3, "total")]
    assert "got str" in errors[0].message and "got null" in errors[1].message


def test_the_last_of_duplicated_ids_wins() -> None:
    valid, errors = validate_items(OrderIn, [order(total="1"), order(total="2"), order(total="3")])
    kept = keep_last(valid, "external_id", errors)
    assert [(i, o.total) for i, o in kept] == [(2, Decimal("3"))]
    assert [(e.index, e.field) for e in errors] == [(0, "external_id"), (1, "external_id")]
    assert "superseded by item 2" in errors[0].message


def test_a_batch_result_is_json_with_the_contract_keys() -> None:
    result = BatchResult(received=3, created=1, updated=1, failed=1)
    result.errors.append(ItemError(2, "total", "not an amount"))
    assert result.to_dict() == {
        "received": 3,
        "created": 1,
        "updated": 1,
        "failed": 1,
        "errors": [{"index": 2, "field": "total", "message": "not an amount"}],
    }
    rejected = BatchRejected(result.errors, 3)
    assert "1 of 3 item(s) are invalid" in str(rejected)
    assert "item 2: total: not an amount" in str(rejected)


@pytest.mark.parametrize(
    "refunds",
    [
        [{"external_id": "R1", "refunded_at": "2026-03-02T10:00:00Z", "amount": "1.00"}] * 2,
        [{"refunded_at": "2026-03-02T10:00:00Z", "amount": "1.00"}] * 2,
    ],
)
def test_an_order_listing_a_refund_twice_is_refused(refunds: list[dict[str, str]]) -> None:
    # Stored once (by its key), a repeated refund would have been subtracted twice from spend.
    item = {
        "external_id": "O1",
        "customer_id": "C1",
        "ordered_at": "2026-03-01T10:00:00Z",
        "currency": "DKK",
        "total": "10.00",
        "refunds": refunds,
    }
    with pytest.raises(ValidationError, match="the same refund twice"):
        OrderIn.model_validate(item)
