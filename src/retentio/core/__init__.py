"""Foundations every layer may use: errors, clock, money."""

from retentio.core.clock import Clock, FixedClock, SystemClock
from retentio.core.errors import (
    ConfigurationError,
    ConvergenceError,
    CurrencyError,
    DataError,
    EmptyDataError,
    ModelFormatError,
    MoneyError,
    ParseError,
    RetentioError,
    RowProblem,
    SchemaError,
)
from retentio.core.money import Money, minor_unit_exponent

__all__ = [
    "Clock",
    "ConfigurationError",
    "ConvergenceError",
    "CurrencyError",
    "DataError",
    "EmptyDataError",
    "FixedClock",
    "ModelFormatError",
    "Money",
    "MoneyError",
    "ParseError",
    "RetentioError",
    "RowProblem",
    "SchemaError",
    "SystemClock",
    "minor_unit_exponent",
]
