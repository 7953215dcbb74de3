"""The items the shop sends: customers, orders and events (pydantic v2; the API's schemas too).

Every model forbids unknown fields and reads ids given as JSON numbers as strings. Timestamps
need an offset (pydantic's ``AwareDatetime``; the store converts them to UTC). Money comes in
major units as a JSON number or string, converted exactly to the currency's minor units.
Addresses are normalised the way the suppression list normalises them, so an erased or
unsubscribed address is recognised however it is typed.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from datetime import UTC, datetime
from decimal import Context, Decimal, Inexact
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from retentio.core.errors import DataError
from retentio.core.money import minor_unit_exponent
from retentio.ingest._regions import COUNTRY_CODES
from retentio.privacy import normalise_email, normalise_phone

__all__ = [
    "MAX_JSON_BYTES",
    "STATUSES",
    "CustomerIn",
    "EventIn",
    "LineIn",
    "OrderIn",
    "RefundIn",
]

#: The largest ``attributes`` / ``properties`` object accepted, as compact UTF-8 JSON.
MAX_JSON_BYTES = 16 * 1024
#: The order statuses retentio knows.
STATUSES = ("completed", "pending", "cancelled", "refunded", "partially_refunded")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def _error(kind: str, message: str, field: str | None = None) -> PydanticCustomError:
    """A validation error; ``field`` names it when raised by a check of the whole item."""
    return PydanticCustomError(kind, message, None if field is None else {"field": field})


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise _error("json_object", f"must be a JSON object: {exc}") from None
    if size > MAX_JSON_BYTES:
        raise _error(
            "json_too_large", f"is {size:,} bytes as JSON; at most {MAX_JSON_BYTES:,} are accepted"
        )
    return value


#: The largest amount accepted, in minor units: far above any order, far below the 64-bit limit.
MAX_MINOR = 10**15
#: The largest amount in major units (a currency without decimals reaches MAX_MINOR); also
#: the bound of scaled amounts, compared as a Decimal (twice as fast as with an int).
MAX_AMOUNT = Decimal(MAX_MINOR)
#: Scaling to minor units: exact, or ``Inexact`` for more significant digits than 28.
_EXACT = Context(prec=28, traps=[Inexact])

#: Text without NUL characters, which PostgreSQL cannot store (checked in pydantic's core).
NO_NUL = r"^[^\x00]*$"
#: An ISO 4217 code as sent (upper-cased in pydantic's core, which checks the pattern first).
CURRENCY = r"^[A-Za-z]{3}$"
Id = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Text = Annotated[str, Field(max_length=200, pattern=NO_NUL)]
#: A JSON number or numeric string, exact (a float by its shortest repr); no NaN or Infinity.
#: Bounded in pydantic's core, before any arithmetic: 1E+999999999 is a valid decimal.
Amount = Annotated[Decimal, Field(allow_inf_nan=False, ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
#: The times retentio accepts: from 1900 to before 2200, within what both databases and the
#: analytics (pandas' nanosecond timestamps end in 2262) hold; an order of the year 169 is a
#: typing error, and it made every KPI read fail.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
END = datetime(2200, 1, 1, tzinfo=UTC)
#: A time with an offset, from EARLIEST to before END.
Timestamp = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=END)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]


class _Item(BaseModel):
    # coerce_numbers_to_str: shops often number their ids; a JSON number is read as its digits.
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, frozen=True, coerce_numbers_to_str=True
    )


class CustomerIn(_Item):
    """A customer of the shop, keyed by the shop's own id."""

    external_id: Id
    email: Annotated[str, Field(max_length=320, pattern=NO_NUL)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    first_name: Text | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None
    time_zone: Annotated[str, Field(max_length=64)] | None = None
    country: Annotated[str, Field(min_length=2, max_length=2)] | None = None
    attributes: JsonObject = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise_email(value)
        except DataError:
            raise _error("email", "not an e-mail address") from None  # no PII echoed

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is None:
            return None
        tag = value.replace("_", "-")
        if not _LOCALE.fullmatch(tag):
            raise _error("locale", f"not a language tag such as da or nl-NL: {value!r}")
        return tag

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str | None) -> str | None:
        if value is not None and not _known_zone(value):
            raise _error("time_zone", f"not an IANA time zone such as Europe/Copenhagen: {value!r}")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.upper()
        if code not in COUNTRY_CODES:
            raise _error("country", f"not an ISO 3166 alpha-2 country code such as DK: {value!r}")
        return code

    @model_validator(mode="after")
    def _phone(self) -> CustomerIn:
        if self.phone is not None:
            try:
                number = normalise_phone(self.phone, self.country)
            except DataError:
                hint = "" if self.country else " (give the country, or write it as +45...)"
                raise _error("phone", f"not a valid phone number{hint}", "phone") from None
            object.__setattr__(self, "phone", number)
        return self


@lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


class LineIn(_Item):
    """One line of an order: the amount is the line's total in major units."""

    sku: Text | None = None
    name: Annotated[str, Field(max_length=500, pattern=NO_NUL)] | None = None
    quantity: Annotated[int, Field(ge=1, strict=True)] = 1
    amount: Amount


class RefundIn(_Item):
    """Money returned on an order; keyed by ``external_id``, else by (time, amount)."""

    external_id: Id | None = None
    refunded_at: Timestamp
    amount: Amount

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise _error("amount", "a refund must be more than 0")
        return value


class OrderIn(_Item):
    """An order, keyed by the shop's order id; ``customer_id`` is the shop's customer id."""

    external_id: Id
    customer_id: Id
    ordered_at: Timestamp
    currency: Annotated[str, StringConstraints(pattern=CURRENCY, to_upper=True)]
    total: Amount
    status: Literal["completed", "pending", "cancelled", "refunded", "partially_refunded"] = (
        "completed"
    )
    lines: Annotated[list[LineIn], Field(max_length=1000)] | None = None
    refunds: Annotated[list[RefundIn], Field(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _checked(self) -> OrderIn:
        # One Python callback for the whole order, one pass over its amounts when they are
        # fine: at 10,000 orders a request each call counts.
        if self.total < 0:
            raise _error("total", "must not be negative; send refunds as refunds", "total")
        lines, refunds = self.lines or (), self.refunds or ()
        amounts = [self.total]
        if lines:
            amounts += [line.amount for line in lines]
        if refunds:
            amounts += [refund.amount for refund in refunds]
        exponent = minor_unit_exponent(self.currency)
        wrong = _first_unfit(amounts, exponent)
        if wrong is not None:
            field, index = (
                ("total", None)
                if wrong == 0
                else ("lines", wrong - 1)
                if wrong <= len(lines)
                else ("refunds", wrong - 1 - len(lines))
            )
            raise _unfit(amounts[wrong], exponent, self.currency, field, index)
        if refunds:
            keys = [r.external_id or (r.refunded_at, r.amount) for r in refunds]
            if len(set(keys)) < len(keys):  # stored once, so it must be counted once
                raise _error(
                    "refunds",
                    "lists the same refund twice (the same external_id, or the same time and "
                    "amount without one)",
                    "refunds",
                )
            refunded = sum((r.amount for r in refunds), Decimal(0))
            if refunded > self.total:
                raise _error(
                    "refunds",
                    f"the refunds ({refunded}) exceed the total ({self.total})",
                    "refunds",
                )
        return self

    def total_minor(self) -> int:
        """The total in minor units of the currency."""
        return self.minor(self.total)

    def minor_amounts(self) -> tuple[int, list[int]]:
        """The total and each line's amount in minor units, the currency looked up once (what
        a batch of 10,000 orders needs: a call per amount counted)."""
        exponent = minor_unit_exponent(self.currency)
        lines = [int(line.amount.scaleb(exponent)) for line in self.lines or ()]
        return int(self.total.scaleb(exponent)), lines

    def minor(self, amount: Decimal) -> int:
        """``amount`` (this order's total, or one of its lines' or refunds') in minor units of
        the order's currency: exact, the order's validation having checked its decimals."""
        return int(amount.scaleb(minor_unit_exponent(self.currency)))


def _first_unfit(amounts: list[Decimal], exponent: int) -> int | None:
    """The index of the first amount that is not a whole number of minor units (``exponent``
    decimals) within what retentio stores; None when all are."""
    try:
        for index, amount in enumerate(amounts):
            scaled = amount.scaleb(exponent, _EXACT)
            if scaled != scaled.to_integral_value() or abs(scaled) > MAX_AMOUNT:
                return index
    except Inexact:  # more than 28 significant digits: more decimals than any currency has
        return index
    return None


def _unfit(
    amount: Decimal, exponent: int, currency: str, field: str, index: int | None
) -> PydanticCustomError:
    """The validation error for an amount :func:`_first_unfit` found, naming the field
    (``lines[2].amount`` for ``field="lines"``, ``index=2``)."""
    where = field if index is None else f"{field}[{index}].amount"
    try:
        scaled = amount.scaleb(exponent, _EXACT)
        exact = scaled == int(scaled)
    except Inexact:
        exact = False
    if not exact:
        return _error(
            "precision", f"{amount} has more decimals than {currency} allows ({exponent})", where
        )
    return _error("amount", f"{amount} {currency} is more than retentio stores", where)


class EventIn(_Item):
    """Something a customer did; ``external_id`` (optional) makes a resend change nothing."""

    external_id: Id | None = None
    customer_id: Id
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
    properties: JsonObject = Field(default_factory=dict)
    occurred_at: Timestamp
