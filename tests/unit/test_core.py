"""Unit tests of retentio.core: money, clock and the error hierarchy."""

from __future__ import annotations

import inspect
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

import retentio.core.errors as errors
from retentio.core import FixedClock, Money, SystemClock, minor_unit_exponent
from retentio.core.csvsafe import neutralise, write_csv
from retentio.core.errors import (
    ConfigurationError,
    ConvergenceError,
    CurrencyError,
    DataError,
    DefinitionError,
    EmptyDataError,
    ModelFormatError,
    MoneyError,
    ParseError,
    RetentioError,
    RowProblem,
    SchemaError,
)
from retentio.core.frames import require_columns

# --- Money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),  # 12.50 * 10**2
        ("12.5", "EUR", 1250),  # the same amount with one decimal written
        ("0.01", "DKK", 1),
        ("-3.20", "EUR", -320),
        (7, "USD", 700),  # an int is major units: 7 * 100
        (Decimal("1.99"), "EUR", 199),
        ("1500", "JPY", 1500),  # JPY has no minor unit: 1500 * 10**0
        ("1.234", "KWD", 1234),  # KWD has 3 decimals: 1.234 * 10**3
    ],
)
def test_money_from_major_is_exact(amount: object, currency: str, minor: int) -> None:
    money = Money.from_major(amount, currency)  # type: ignore[arg-type]
    assert money == Money(minor, currency)
    assert isinstance(money.minor, int)


def test_money_from_major_does_not_go_through_float() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 as floats; as Decimal strings the sum is exact
    total = Money.from_major("0.10", "EUR") + Money.from_major("0.20", "EUR")
    assert total == Money.from_major("0.30", "EUR") == Money(30, "EUR")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.005", "EUR"), ("0.001", "USD"), ("1500.5", "JPY"), ("1.2345", "KWD")],
)
def test_money_refuses_more_decimals_than_the_currency_has(amount: str, currency: str) -> None:
    with pytest.raises(MoneyError, match="decimals"):
        Money.from_major(amount, currency)


@pytest.mark.parametrize("amount", ["abc", "", "NaN", "Infinity"])
def test_money_refuses_non_amounts(amount: str) -> None:
    with pytest.raises(MoneyError):
        Money.from_major(amount, "EUR")


def test_minor_unit_exponents() -> None:
    assert minor_unit_exponent("JPY") == 0
    assert minor_unit_exponent("jpy") == 0
    assert minor_unit_exponent("EUR") == 2
    assert minor_unit_exponent("DKK") == 2
    assert minor_unit_exponent("KWD") == 3


def test_jpy_has_no_decimals() -> None:
    yen = Money.from_major("1500", "JPY")
    assert yen.minor == 1500
    assert yen.to_major() == Decimal(1500)
    assert str(yen) == "1500 JPY"


def test_money_currency_code_is_normalised_and_checked() -> None:
    assert Money(100, "eur").currency == "EUR"
    for bad in ("EU", "EURO", "E1R", ""):
        with pytest.raises(MoneyError, match="3-letter"):
            Money(100, bad)


@pytest.mark.parametrize("minor", [1.5, 2.0, True, "12"])
def test_money_minor_units_must_be_an_int(minor: object) -> None:
    with pytest.raises(MoneyError, match="int"):
        Money(minor, "EUR")  # type: ignore[arg-type]


def test_money_arithmetic_and_comparison_in_one_currency() -> None:
    a, b = Money(1250, "EUR"), Money(375, "EUR")
    assert a + b == Money(1625, "EUR")  # 12.50 + 3.75 = 16.25
    assert a - b == Money(875, "EUR")  # 12.50 - 3.75 = 8.75
    assert -a == Money(-1250, "EUR")
    assert b < a
    assert b <= a
    assert a <= Money(1250, "EUR")
    assert not a < b
    assert a.to_major() == Decimal("12.50")
    assert str(a) == "12.50 EUR"
    assert str(Money(-5, "USD")) == "-0.05 USD"


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
    ],
)
def test_money_refuses_to_mix_currencies(operation: object) -> None:
    eur, dkk = Money(100, "EUR"), Money(100, "DKK")
    with pytest.raises(MoneyError, match="EUR and DKK"):
        operation(eur, dkk)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("minor", "factor", "expected"),
    [
        (5, Decimal("0.5"), 2),  # 2.5 -> 2 (half to even)
        (15, Decimal("0.5"), 8),  # 7.5 -> 8 (half to even)
        (25, Decimal("0.1"), 2),  # 2.5 -> 2
        (35, Decimal("0.1"), 4),  # 3.5 -> 4
        (-5, Decimal("0.5"), -2),  # -2.5 -> -2
        (1000, Decimal("0.134"), 134),  # 134.0 exactly
        (999, Decimal("0.134"), 134),  # 133.866 -> 134
        (100, 3, 300),  # an int factor
    ],
)
def test_money_multiply_rounds_half_even(minor: int, factor: Decimal, expected: int) -> None:
    assert Money(minor, "EUR").multiply(factor) == Money(expected, "EUR")


def test_money_multiply_with_another_rounding() -> None:
    # 2.5 minor units: half-even gives 2, half-up gives 3
    assert Money(5, "EUR").multiply(Decimal("0.5"), rounding=ROUND_HALF_UP) == Money(3, "EUR")


def test_money_is_immutable() -> None:
    money = Money(100, "EUR")
    with pytest.raises(AttributeError):
        money.minor = 5  # type: ignore[misc]


# --- Clock -----------------------------------------------------------------------------------


def test_fixed_clock_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2024, 7, 1, 10, 0))  # naive on purpose


def test_fixed_clock_reports_utc_and_advances() -> None:
    copenhagen_summer = timezone(timedelta(hours=2))
    clock = FixedClock(datetime(2024, 7, 1, 10, 0, tzinfo=copenhagen_summer))
    # 10:00 at +02:00 is 08:00 UTC
    assert clock.now() == datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.now() == clock.now()  # it does not move by itself
    clock.advance(timedelta(hours=17, minutes=30))
    # 08:00 + 17:30 = 01:30 the next day
    assert clock.now() == datetime(2024, 7, 2, 1, 30, tzinfo=UTC)
    clock.advance(timedelta(days=30))
    assert clock.now() == datetime(2024, 8, 1, 1, 30, tzinfo=UTC)


def test_system_clock_is_aware_utc() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


# --- Errors ----------------------------------------------------------------------------------


def test_parse_error_lists_all_problems_when_few() -> None:
    problems = [
        RowProblem(3, "ordered_at", "yesterday", "not a date/time"),
        RowProblem(7, "amount", "12,5x", "not a number"),
        RowProblem(9, "amount", "", "not a number"),
    ]
    error = ParseError({"ordered_at": 1, "amount": 2}, problems)
    message = str(error)
    assert error.count == 3  # 1 + 2
    assert error.counts == {"ordered_at": 1, "amount": 2}
    assert error.problems == tuple(problems)
    assert message.startswith("3 problem(s) in the input")
    assert "1 with an unparseable ordered_at" in message
    assert "2 with an unparseable amount" in message
    assert "row 3 ordered_at='yesterday' (not a date/time)" in message
    assert "row 7 amount='12,5x' (not a number)" in message
    assert "row 9 amount='' (not a number)" in message
    assert "first" not in message
    assert "skip_invalid=True" in message


def test_parse_error_lists_only_the_first_twenty() -> None:
    problems = [RowProblem(row, "amount", f"x{row}", "not a number") for row in range(1, 26)]
    error = ParseError({"amount": 25}, problems)
    message = str(error)
    assert ParseError.max_listed == 20
    assert error.count == 25
    assert [p.row for p in error.problems] == list(range(1, 21))
    assert "25 problem(s)" in message
    assert "The first 20:" in message
    assert "row 20 amount='x20'" in message
    assert "row 21 " not in message
    assert "row 25 " not in message


def test_parse_error_says_first_when_the_counts_exceed_the_listed_problems() -> None:
    # 30 problems counted, only 2 passed in: the message must not claim to show "all"
    error = ParseError({"amount": 30}, [RowProblem(1, "amount", "a", "not a number")] * 2)
    assert "The first 2:" in str(error)


# The tree drawn in the docstring of retentio/core/errors.py, written out by hand.
PARENTS = {
    ConfigurationError: RetentioError,
    DataError: RetentioError,
    SchemaError: DataError,
    ParseError: DataError,
    EmptyDataError: DataError,
    CurrencyError: DataError,
    DefinitionError: DataError,
    MoneyError: RetentioError,
    ConvergenceError: RetentioError,
    ModelFormatError: RetentioError,
}


def test_error_hierarchy_matches_the_docstring() -> None:
    for error, parent in PARENTS.items():
        assert error.__bases__ == (parent,), error
        assert error.__name__ in errors.__doc__  # type: ignore[operator]
    assert RetentioError.__bases__ == (Exception,)


def test_every_error_class_derives_from_retentio_error() -> None:
    classes = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    ]
    assert set(classes) == set(PARENTS) | {RetentioError}
    for cls in classes:
        assert issubclass(cls, RetentioError), cls


def test_one_except_catches_everything_retentio_raises() -> None:
    with pytest.raises(RetentioError):
        Money(1, "EUR") + Money(1, "USD")
    with pytest.raises(RetentioError):
        raise ParseError({"amount": 1}, [RowProblem(1, "amount", "x", "not a number")])


def test_write_csv_neutralises_formulas_and_creates_an_ordinary_file(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["=cmd()", "+1", "ok", "@x"], "amount": [-1.5, 2.0, 3.0, 4.0]})
    path = write_csv(frame, tmp_path / "out" / "export.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == ["name,amount", "'=cmd(),-1.5", "'+1,2.0", "ok,3.0", "'@x,4.0"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in path.parent.iterdir()] == ["export.csv"]  # no temporary left
    assert neutralise(5) == 5 and neutralise("-x") == "'-x"


def test_require_columns_names_every_missing_column() -> None:
    frame = pd.DataFrame({"a": [1]})
    require_columns(frame, ["a"])
    with pytest.raises(SchemaError, match=r"lifetimes is missing the column\(s\) b, c"):
        require_columns(frame, ["a", "b", "c"], "lifetimes")
