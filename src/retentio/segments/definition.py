"""Segment definitions: who is in a segment, written as data (YAML or JSON) and checked here.

A definition is a mapping::

    name: lapsing-repeat-buyers            # letters, digits, - and _; the segment's key
    description: Bought twice or more, now likely to lapse
    currency: DKK                          # needed by total_spend and average_order_value
    where:
      all:
        - order_count: {gte: 2}
        - p_alive: {lt: 0.4}
        - consent: {channel: email, purpose: marketing}
        - not:
            event: {name: newsletter_clicked, within_days: 30}

Each condition is a mapping of one key: ``all`` / ``any`` (a list of conditions), ``not`` (one
condition), ``event``, ``consent``, or a field of :data:`~retentio.segments.fields.FIELDS` (or
``attributes.<key>``). A field takes a mapping of operators, all of which must hold (``{gte: 2,
lt: 5}``), a plain value (``country: DK``, meaning ``eq``) or a list (``country: [DK, NL]``,
meaning ``in``). Conditions are two-valued: a customer without a value (no orders, no scores)
simply does not match ``p_alive: {lt: 0.4}``, and does match its ``not``.

:func:`parse_definition` turns the mapping into the frozen dataclasses below, or raises
:class:`SegmentError` naming the path of the first problem (``where.all[2].consent.channel``).
Pure: no database, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from retentio.core.errors import DataError, DefinitionError
from retentio.core.money import Money
from retentio.core.vocabulary import CONSENT_CHANNELS, PURPOSES
from retentio.segments.fields import ATTRIBUTE_PREFIX, FIELDS, KIND_OPERATORS, Field, source_of

__all__ = [
    "AllOf",
    "AnyOf",
    "Compare",
    "Condition",
    "ConsentCondition",
    "EventCondition",
    "Not",
    "SegmentDefinition",
    "SegmentError",
    "parse_definition",
]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_MAX_DEPTH = 20
_MAX_CONDITIONS = 500
_MAX_WHOLE = 1_000_000_000  # counts
_MAX_DAYS = 36_600  # a hundred years
_MAX_NUMBER = Decimal(10) ** 15  # scores and attributes; money in major units
_MAX_TEXT = 1000
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


class SegmentError(DefinitionError):
    """A segment definition that cannot be used; ``path`` names where (``where.all[1]``)."""


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value``; ``value`` already converted (minor units, aware datetimes...)."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class EventCondition:
    """Did the event ``name`` at least ``at_least`` times (in the last ``within_days``), with
    ``properties`` equal to the given values."""

    name: str
    at_least: int = 1
    within_days: int | None = None
    properties: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentCondition:
    """An effective grant (confirmed where double opt-in applies) for channel x purpose."""

    channel: str
    purpose: str = "marketing"


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Condition


Condition = Compare | EventCondition | ConsentCondition | AllOf | AnyOf | Not


@dataclass(frozen=True, slots=True)
class SegmentDefinition:
    """A checked definition. ``source`` is the mapping it came from (stored as given)."""

    name: str
    where: Condition
    description: str = ""
    currency: str | None = None
    source: Mapping[str, Any] | None = None

    def fields(self) -> set[str]:
        """The fields its conditions test (``attributes.x`` as given)."""
        return {c.field for c in _walk(self.where) if isinstance(c, Compare)}

    def sources(self) -> set[str]:
        """What it reads: some of customer, attributes, orders, scores, events, consents."""
        found: set[str] = set()
        for condition in _walk(self.where):
            if isinstance(condition, Compare):
                found.add(source_of(condition.field))
            elif isinstance(condition, EventCondition):
                found.add("events")
            elif isinstance(condition, ConsentCondition):
                found.add("consents")
        return found


def _walk(condition: Condition) -> list[Condition]:
    found = [condition]
    if isinstance(condition, AllOf | AnyOf):
        for part in condition.parts:
            found.extend(_walk(part))
    elif isinstance(condition, Not):
        found.extend(_walk(condition.part))
    return found


def parse_definition(data: Any) -> SegmentDefinition:
    """Check ``data`` (decoded YAML/JSON) and return the definition, or raise SegmentError."""
    if not isinstance(data, Mapping):
        raise SegmentError("definition", "must be a mapping with name and where")
    unknown = set(data) - {"name", "description", "currency", "where"}
    if unknown:
        raise SegmentError(
            str(sorted(unknown)[0]),
            "unknown key (a definition has name, description, currency and where)",
        )
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise SegmentError(
            "name", "required: 1-100 letters, digits, '-' or '_', starting with a letter or digit"
        )
    description = data.get("description", "") or ""
    if not isinstance(description, str) or len(description) > 2000 or "\x00" in description:
        raise SegmentError("description", "must be text of at most 2,000 characters")
    currency = data.get("currency")
    if currency is not None:
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise SegmentError(
                "currency", f"must be an ISO 4217 code such as DKK, not {currency!r}"
            )
        currency = currency.upper()
    if "where" not in data:
        raise SegmentError("where", "required: the condition customers must meet")
    parser = _Parser(currency)
    where = parser.condition(data["where"], "where", 0)
    return SegmentDefinition(name, where, description, currency, dict(data))


class _Parser:
    def __init__(self, currency: str | None) -> None:
        self.currency = currency
        self.count = 0

    def condition(self, data: Any, path: str, depth: int) -> Condition:
        self.count += 1
        if depth > _MAX_DEPTH or self.count > _MAX_CONDITIONS:
            raise SegmentError(
                path, f"too complex (at most {_MAX_DEPTH} levels and {_MAX_CONDITIONS} conditions)"
            )
        if not isinstance(data, Mapping) or len(data) != 1:
            raise SegmentError(
                path,
                "a condition is a mapping of one key: all, any, not, event, consent or a field",
            )
        ((key, value),) = data.items()
        at = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise SegmentError(at, "must be a non-empty list of conditions")
            parts = tuple(
                self.condition(part, f"{at}[{i}]", depth + 1) for i, part in enumerate(value)
            )
            return AllOf(parts) if key == "all" else AnyOf(parts)
        if key == "not":
            return Not(self.condition(value, at, depth + 1))
        if key == "event":
            return _event(value, at)
        if key == "consent":
            return _consent(value, at)
        if not isinstance(key, str):
            raise SegmentError(path, f"a condition's key must be text, not {key!r}")
        return self.compare(_field(key, path), key, value, at)

    def compare(self, field: Field, name: str, value: Any, path: str) -> Condition:
        if isinstance(value, Mapping):
            tests = list(value.items())
        elif isinstance(value, list):
            tests = [("in", value)]
        else:
            tests = [("eq", value)]
        if not tests:
            raise SegmentError(path, "give at least one operator, e.g. {gte: 2}")
        allowed = KIND_OPERATORS[field.kind]
        parts = []
        for op, operand in tests:
            if op not in allowed:
                raise SegmentError(
                    f"{path}.{op}",
                    f"unknown operator for a {field.kind} field (use {', '.join(allowed)})",
                )
            converted = self.operand(field, op, operand, f"{path}.{op}")
            parts.append(Compare(name, op, converted))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def operand(self, field: Field, op: str, value: Any, path: str) -> Any:
        if op == "exists":
            if not isinstance(value, bool):
                raise SegmentError(path, "must be true or false")
            return value
        if field.kind == "money" and self.currency is None:
            raise SegmentError(
                path, "set the definition's currency (e.g. currency: DKK): spend is compared in one"
            )
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value or len(value) > 1000:
                raise SegmentError(path, "must be a list of 1 to 1,000 values")
            values = tuple(self.scalar(field, v, f"{path}[{i}]") for i, v in enumerate(value))
            return _one_kind(values, path)
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise SegmentError(path, "must be a list of two values: [low, high] (inclusive)")
            pair = tuple(self.scalar(field, v, f"{path}[{i}]") for i, v in enumerate(value))
            low, high = _one_kind(pair, path)
            if low > high:
                raise SegmentError(path, "the low value is above the high one")
            return (low, high)
        if op in ("before", "after"):
            return _instant(value, path)
        return self.scalar(field, value, path)

    def scalar(self, field: Field, value: Any, path: str) -> Any:
        kind = field.kind
        if kind in ("text", "list"):  # a list field's operand is one of its values
            value = _text(value, path)
            if field.choices and value not in field.choices:
                raise SegmentError(
                    path, f"unknown value {value!r} (one of: {', '.join(field.choices)})"
                )
            return value.upper() if field.name == "country" else value
        if kind == "any":  # an attribute: text, a number or true/false, compared as such
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                return _text(value, path)
            return _number(value, path)
        if kind in ("integer", "days"):
            return _whole(value, path, 0, _MAX_DAYS if kind == "days" else _MAX_WHOLE)
        if kind == "money":
            assert self.currency is not None  # checked by operand()  # noqa: S101
            amount = _number(value, path)
            try:
                return Money.from_major(str(amount), self.currency).minor
            except (ArithmeticError, ValueError, DataError) as exc:
                raise SegmentError(path, f"not an amount in {self.currency}: {exc}") from None
        return float(_number(value, path))


def _one_kind(values: tuple[Any, ...], path: str) -> tuple[Any, ...]:
    """``values`` if they are all text, all numbers or all true/false (an attribute's list
    is compared as one of them)."""
    kinds = {type(v) if isinstance(v, bool | str) else Decimal for v in values}
    if len(kinds) > 1:
        raise SegmentError(path, "mixes text, numbers and true/false: use one kind of value")
    return values


def _field(key: str, path: str) -> Field:
    if key.startswith(ATTRIBUTE_PREFIX):
        attribute = key[len(ATTRIBUTE_PREFIX) :]
        if not _KEY.fullmatch(attribute):
            raise SegmentError(f"{path}.{key}", "an attribute name is 1-100 letters, digits, _ . -")
        return Field(key, "attributes", "any", f"the customer attribute {attribute}")
    field = FIELDS.get(key)
    if field is None:
        known = ", ".join(sorted(FIELDS))
        raise SegmentError(
            f"{path}.{key}" if path else key,
            f"unknown field {key!r} (known: {known}; or attributes.<name>, event, consent)",
        )
    return field


def _number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise SegmentError(path, f"must be a number, not {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SegmentError(path, f"must be a number, not {value!r}") from None
    if not number.is_finite():
        raise SegmentError(path, f"must be a finite number, not {value!r}")
    if abs(number) > _MAX_NUMBER:
        raise SegmentError(path, f"must lie between -10^15 and 10^15, not {value!r}")
    return number


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise SegmentError(path, f"must be text, not {value!r}")
    if "\x00" in value or len(value) > _MAX_TEXT:
        raise SegmentError(path, f"must be text of at most {_MAX_TEXT:,} characters, without NUL")
    return value


def _instant(value: Any, path: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 time with an offset, as an aware UTC datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        try:
            parsed = (
                datetime.fromisoformat(value)
                if "T" in value or " " in value
                else datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
            )
        except ValueError:
            raise SegmentError(path, f"not an ISO 8601 date or time: {value!r}") from None
    else:
        raise SegmentError(path, f"must be a date (2026-01-31) or a time, not {value!r}")
    if parsed.tzinfo is None:
        raise SegmentError(path, "a time needs its offset (Z or +01:00), or give a date")
    return parsed.astimezone(UTC)


def _whole(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SegmentError(path, f"must be a whole number from {low} to {high:,}, not {value!r}")
    return value


def _event(data: Any, path: str) -> EventCondition:
    if not isinstance(data, Mapping):
        raise SegmentError(path, "must be a mapping: {name: ..., at_least: 1, within_days: 30}")
    unknown = set(data) - {"name", "at_least", "within_days", "properties"}
    if unknown:
        raise SegmentError(
            f"{path}.{sorted(map(str, unknown))[0]}",
            "unknown key (an event condition has name, at_least, within_days, properties)",
        )
    name = data.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 200 or "\x00" in name:
        raise SegmentError(f"{path}.name", "required: the event's name (1-200 characters)")
    at_least = _whole(data.get("at_least", 1), f"{path}.at_least", 1, 1_000_000)
    within = data.get("within_days")
    if within is not None:
        within = _whole(within, f"{path}.within_days", 1, 36_600)
    properties = data.get("properties", {})
    if not isinstance(properties, Mapping):
        raise SegmentError(f"{path}.properties", "must be a mapping of property: value")
    pairs = []
    for key, value in properties.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise SegmentError(
                f"{path}.properties", f"a property name is 1-100 letters, digits, _ . -: {key!r}"
            )
        at = f"{path}.properties.{key}"
        if isinstance(value, str):
            value = _text(value, at)
        elif not isinstance(value, bool):
            if not isinstance(value, int | float):
                raise SegmentError(at, "must be text, a number or true/false")
            value = float(_number(value, at))
        pairs.append((key, value))
    return EventCondition(name, at_least, within, tuple(sorted(pairs)))


def _consent(data: Any, path: str) -> ConsentCondition:
    if not isinstance(data, Mapping):
        raise SegmentError(path, "must be a mapping: {channel: email, purpose: marketing}")
    unknown = set(data) - {"channel", "purpose"}
    if unknown:
        raise SegmentError(f"{path}.{sorted(map(str, unknown))[0]}", "unknown key")
    channel = data.get("channel")
    if channel not in CONSENT_CHANNELS:
        raise SegmentError(
            f"{path}.channel", f"one of {', '.join(CONSENT_CHANNELS)}, not {channel!r}"
        )
    purpose = data.get("purpose", "marketing")
    if purpose not in PURPOSES:
        raise SegmentError(f"{path}.purpose", f"one of {', '.join(PURPOSES)}, not {purpose!r}")
    return ConsentCondition(channel, purpose)
